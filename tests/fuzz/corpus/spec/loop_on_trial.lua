return automl.search {
  data = "data.h5",
  on_trial = function(t)
    while true do pcall(function() while true do end end) end
  end,
}
