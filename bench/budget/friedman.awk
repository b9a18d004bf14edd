#!/usr/bin/awk -f
# A Friedman #1 regression table as CSV (Friedman 1991; scikit-learn's make_friedman1): nine
# uniform features x1..x9 of which the first five carry the target,
#   y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1),
# the shape of the table the budget bench and test_budget_large time searches on.
# Usage: awk -v rows=40000 -v seed=1 -f friedman.awk > table.csv
BEGIN {
    if (rows == "") rows = 1000
    srand(seed == "" ? 1 : seed)
    pi = atan2(0, -1)
    print "x1,x2,x3,x4,x5,x6,x7,x8,x9,y"
    for (i = 0; i < rows; i++) {
        for (j = 1; j <= 9; j++)
            x[j] = rand()
        # Box-Muller normal noise
        u = rand(); if (u < 1e-12) u = 1e-12
        noise = sqrt(-2 * log(u)) * cos(2 * pi * rand())
        y = 10 * sin(pi * x[1] * x[2]) + 20 * (x[3] - 0.5) ^ 2 + 10 * x[4] + 5 * x[5] + noise
        printf "%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f\n", x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], y
    }
}
