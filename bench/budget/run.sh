#!/usr/bin/env bash
# The budget bench (issue 20): the wall time of the whole `automl search` command (load, search,
# refit, export) for budgets of 5, 10 and 30 s on Friedman #1 regression tables of 1 000 to
# 200 000 rows x 9 features (friedman.awk). The promise: at most budget + 5 % + 0.5 s.
# Usage: bench/budget/run.sh [BUILD_DIR] [REPEATS]   (env BUDGETS, ROWS, THREADS override the grid)
# Prints one line per run: budget rows repeat wall_s limit_s ok|OVER refit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
repeats=${2:-1}
automl=$(cd "$build" && pwd)/bin/automl
budgets=${BUDGETS:-5 10 30}
rows_list=${ROWS:-1000 10000 40000 100000 200000}
threads=${THREADS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(uname -n) $(nproc) cores, --threads $threads, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "budget rows repeat wall_s limit_s verdict refit"
for rows in $rows_list; do
    awk -v rows="$rows" -v seed=1 -f "$here/friedman.awk" > "$tmp/t.csv"
    "$automl" import "$tmp/t.csv" "$tmp/t$rows.h5" > /dev/null || { echo "import of $rows rows failed"; exit 1; }
    cat > "$tmp/s$rows.lua" <<LUA
return automl.search { data = "$tmp/t$rows.h5", export = { to = "$tmp/repo", name = "f$rows" } }
LUA
    for budget in $budgets; do
        for r in $(seq 1 "$repeats"); do
            out="$tmp/run-$rows-$budget-$r"
            start=$(date +%s.%N)
            "$automl" search "$tmp/s$rows.lua" --budget "$budget" --threads "$threads" --out "$out" \
                > "$tmp/out" 2> "$tmp/err" || { echo "search failed: $(tail -2 "$tmp/err")"; continue; }
            wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
            refit=$(sed -n 's/^[[:space:]]*"refit":[[:space:]]*"\(.*\)",*$/\1/p' "$out/summary.json" | cut -c1-40)
            awk -v b="$budget" -v rows="$rows" -v r="$r" -v w="$wall" -v f="$refit" 'BEGIN {
                limit = b * 1.05 + 0.5
                printf "%s %s %s %.2f %.2f %s %s\n", b, rows, r, w, limit, w <= limit ? "ok" : "OVER", f }'
        done
    done
    rm -f "$tmp/t.csv"
done
