#!/usr/bin/env bash
# bench/serve/run.sh: automld on loopback under wrk. A synthetic 20 000 x 30 classification set,
# a 100-tree gbdt (linear if gbdt is not built) trained with `automl train`; then
#   1. single-row KServe infer: latency with one connection, throughput with keep-alive and 16
#      connections (and automld's CPU time per request, which the machine's load moves less);
#   2. 50 swaps under light load: RSS after the first and after the 50th;
#   3. a SWAP_SECONDS (60) run at 8 connections while 20 new versions are published: failures.
# Prints key=value lines and a markdown block for bench/RESULTS.md. Env: AML_BUILD_DIR (default
# build), SECONDS_PER_RUN (10), SWAP_SECONDS (60), THREADS (automld worker threads, 2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${AML_BUILD_DIR:-$ROOT/build}
AUTOML=$BUILD/bin/automl
AUTOMLD=$BUILD/bin/automld
RUN=${SECONDS_PER_RUN:-10}
SWAP=${SWAP_SECONDS:-60}
THREADS=${THREADS:-2}
LUA=$ROOT/bench/serve/post.lua
W=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2> /dev/null; rm -rf "$W"; }
trap cleanup EXIT

# Deterministic data: y = 1 when a fixed linear combination of 30 uniform features plus noise > 0.
awk 'BEGIN { srand(42); for (j = 1; j <= 30; j++) { w[j] = rand() * 2 - 1; printf "f%d,", j }; print "y";
  for (i = 0; i < 20000; i++) { s = 0; for (j = 1; j <= 30; j++) { x = rand() * 4 - 2; s += w[j] * x; printf "%.4f,", x }
    print (s + (rand() - 0.5) > 0 ? 1 : 0) } }' > "$W/data.csv"
"$AUTOML" import "$W/data.csv" "$W/data.h5" --target y > /dev/null
if "$AUTOML" plugins | grep -q '^model *gbdt '; then
  MODEL=gbdt SET="--set n_trees=100,early_stopping_rounds=0"
else
  MODEL=linear SET=""
fi
"$AUTOML" train "$W/data.h5" --model "$MODEL" $SET --repo "$W/stage" --name synth --threads 2 > "$W/train.out"
mkdir -p "$W/repo/synth"
cp -r "$W/stage/synth/1" "$W/repo/synth/1"
publish() { cp -r "$W/stage/synth/1" "$W/repo/synth/.tmp-$1" && mv "$W/repo/synth/.tmp-$1" "$W/repo/synth/$1"; }

"$AUTOMLD" --repo "$W/repo" --port 0 --threads "$THREADS" --poll 0.2 2> "$W/automld.log" &
PID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/^automld: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$W/automld.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
URL=http://127.0.0.1:$PORT
served() { curl -s "$URL/v2/models/synth" | grep -q "\"versions\": \[\"$1\"\]"; }
wait_served() { for _ in $(seq 300); do served "$1" && return 0; sleep 0.05; done; echo "version $1 never served" >&2; exit 1; }
wait_served 1
ROW=$(sed -n 2p "$W/data.csv" | cut -d, -f1-30)
printf '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 30], "data": [%s]}]}' "$ROW" > "$W/body.json"
code=$(curl -s -o "$W/resp" -w '%{http_code}' -X POST --data-binary "@$W/body.json" "$URL/v2/models/synth/infer")
[ "$code" = 200 ] || { echo "infer -> $code $(cat "$W/resp")" >&2; exit 1; }
# automld's user + system CPU time in clock ticks (fields 14 and 15 of /proc/PID/stat)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }
val() { sed -n "s/^$1=//p" "$2"; }

export BODY=$W/body.json
wrk -t1 -c4 -d2s -s "$LUA" "$URL/v2/models/synth/infer" > /dev/null # warm-up
wrk -t1 -c1 -d"${RUN}s" -s "$LUA" "$URL/v2/models/synth/infer" > "$W/lat.out"
CPU0=$(cpu_ticks)
wrk -t1 -c16 -d"${RUN}s" -s "$LUA" "$URL/v2/models/synth/infer" > "$W/tput.out"
CPU1=$(cpu_ticks)

# 50 swaps under light load (2 connections)
wrk -t1 -c2 -d600s -s "$LUA" "$URL/v2/models/synth/infer" > "$W/light.out" &
WRK=$!
publish 2
wait_served 2
sleep 0.5
RSS1=$(rss)
for v in $(seq 3 51); do publish "$v"; wait_served "$v"; done
sleep 0.5
RSS50=$(rss)
kill -INT "$WRK"; wait "$WRK" || true

# SWAP seconds at 8 connections while 20 versions are published
wrk -t1 -c8 -d"${SWAP}s" -s "$LUA" "$URL/v2/models/synth/infer" > "$W/swap.out" &
WRK=$!
step=$(awk -v s="$SWAP" 'BEGIN { print (s - 4) / 20 }')
sleep 2
for v in $(seq 52 71); do publish "$v"; sleep "$step"; done
wait "$WRK"
SERVED_LAST=$(curl -s "$URL/v2/models/synth" | sed -n 's/.*"versions": \["\([0-9]*\)"\].*/\1/p')
curl -s "$URL/metrics" > "$W/metrics"
FAILED_LOADS=$(grep -c '^automld: refused' "$W/automld.log" || true)
kill -TERM "$PID"
wait "$PID" && RC=0 || RC=$?
PID=""
swap_fail=$(( $(val errors_connect "$W/swap.out") + $(val errors_read "$W/swap.out") + $(val errors_write "$W/swap.out") + $(val errors_timeout "$W/swap.out") + $(val errors_status "$W/swap.out") ))
tput_fail=$(( $(val errors_status "$W/tput.out") + $(val errors_read "$W/tput.out") ))

cat <<OUT
model=$MODEL ($(sed -n 1p "$W/train.out"))
latency_c1_p50_us=$(val p50_us "$W/lat.out")
latency_c1_p90_us=$(val p90_us "$W/lat.out")
latency_c1_p99_us=$(val p99_us "$W/lat.out")
latency_c1_rps=$(val rps "$W/lat.out")
throughput_c16_rps=$(val rps "$W/tput.out")
throughput_c16_p50_us=$(val p50_us "$W/tput.out")
throughput_c16_p99_us=$(val p99_us "$W/tput.out")
throughput_failed=$tput_fail
throughput_c16_server_cpu_us_per_request=$(awk -v a="$CPU0" -v b="$CPU1" -v n="$(val requests "$W/tput.out")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }')
rss_after_first_swap_kb=$RSS1
rss_after_50_swaps_kb=$RSS50
rss_ratio=$(awk -v a="$RSS50" -v b="$RSS1" 'BEGIN { printf "%.3f", a / b }')
swap_run_requests=$(val requests "$W/swap.out")
swap_run_rps=$(val rps "$W/swap.out")
swap_run_failed=$swap_fail
swap_run_p99_us=$(val p99_us "$W/swap.out")
swap_run_max_us=$(val max_us "$W/swap.out")
served_after_swap_run=$SERVED_LAST (expected 71)
refused_versions=$FAILED_LOADS
sigterm_exit=$RC
load_average=$(cut -d' ' -f1-3 /proc/loadavg)
OUT
