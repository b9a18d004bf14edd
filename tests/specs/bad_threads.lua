-- expect: :5: threads: must be "auto" or an integer in [1, 1024], got 1000000
-- A declared count is bounded before anything starts: this once started 1 600 threads.
return automl.search {
  data = "../data/h5/minimal_regression.h5",
  threads = 1e6,
}
