#!/usr/bin/env bash
# End to end: automld stays available. Versions load in threads under --load-timeout, so an artifact
# that blocks (a FIFO manifest) neither keeps a good model from serving nor wedges SIGTERM, and an
# unlisted reference.json (a FIFO) refuses its version without being opened; and 1 100 slow connections from one address do not starve a client on another
# (--max-client-connections), while silent connections are closed (--client-timeout).
. "$(dirname "$0")/lib.sh"
HTTP_TIMEOUT=10
. "$(dirname "$0")/automld_lib.sh"

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
below() { awk -v v="$1" -v b="$2" 'BEGIN { exit !(v < b) }'; }

REPO=$TMP/repo
mkdir -p "$REPO"
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5" --target target
expect 0 "" -- "$AUTOML" train "$TMP/wine.h5" --model linear --repo "$REPO" --name wine --threads 1
ROW='[14.23,1.71,2.43,15.6,127.0,2.8,3.06,0.28,2.29,5.64,1.04,3.92,1065.0]'
printf '{"instances": [%s]}' "$ROW" > "$TMP/one.json"

# ---- artifacts whose load blocks: the good model serves at once, SIGTERM still exits ----
# stuck: its manifest.json is a FIFO nobody writes; the load blocks in the artifact reader until the
# time limit refuses it (or the reader refuses a file that is not regular). noref: a reference.json
# that is a FIFO and not listed in the manifest: no checksum covers it, so the reader refuses the
# version without opening it.
mkdir -p "$REPO/stuck" "$REPO/noref"
cp -r "$REPO/wine/1" "$REPO/stuck/1"
rm "$REPO/stuck/1/manifest.json"
mkfifo "$REPO/stuck/1/manifest.json"
cp -r "$REPO/wine/1" "$REPO/noref/1"
/usr/bin/python3 - "$REPO/noref/1/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
del m["files"]["reference.json"]
open(p, "w").write(json.dumps(m, indent="\t"))
PY
(cd "$REPO/noref/1" && sha256sum manifest.json > manifest.json.sha256) # resealed: the tamper is the point
rm "$REPO/noref/1/reference.json"
mkfifo "$REPO/noref/1/reference.json"

t0=$(date +%s.%N)
start_daemon "$TMP/d1.log" --repo "$REPO" --poll 0.2 --load-timeout 4 --threads 2
served=""
for _ in $(seq 60); do
  http POST /v1/models/wine:predict "$TMP/one.json"
  [ "$code" = 200 ] && { served=$(elapsed "$t0"); break; }
  sleep 0.05
done
[ -n "$served" ] && below "$served" 3 || fail "wine was not served within 3 s beside a blocked load (${served:-never}; $(cat "$TMP/d1.log"))"
http GET /v2/models/stuck
[ "$code" = 404 ] || fail "stuck while loading -> $code"
for _ in $(seq 100); do
  http GET /v2/health/ready
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || fail "not ready after the load time limit: $(cat "$TMP/d1.log")"
# The artifact reader may refuse the FIFO itself; if it waits on it, the time limit refuses it.
grep -Eq "^automld: refused $REPO/stuck/1: " "$TMP/d1.log" || fail "no refusal of stuck: $(cat "$TMP/d1.log")"
if grep -q "^automld: refused $REPO/stuck/1: .*loading took" "$TMP/d1.log"; then
  grep -q "^automld: refused $REPO/stuck/1: $REPO/stuck/1: loading took longer than 4 s (--load-timeout); the load was abandoned (the previous versions keep serving; retried when its manifest.json changes)$" "$TMP/d1.log" ||
    fail "time-limit refusal: $(grep 'refused' "$TMP/d1.log")"
  timed_out=1
else
  timed_out=0
fi
http GET /v1/models/stuck
grep -q '^{"model_version_status": \[{"version": "1", "state": "END", "status": {"error_code": "UNKNOWN", "error_message": ' "$TMP/body" ||
  fail "stuck status: $(cat "$TMP/body")"
grep -q "^automld: refused $REPO/noref/1: $REPO/noref/1/reference.json: not listed in the manifest's files, so not covered by a checksum" "$TMP/d1.log" ||
  fail "the unlisted reference.json: $(cat "$TMP/d1.log")"
http POST /v1/models/noref:predict "$TMP/one.json"
[ "$code" = 404 ] || fail "noref -> $code $(cat "$TMP/body")"
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
[ "$(metric 'automld_model_load_failures_total{model="stuck"}')" = 1 ] || fail "stuck load failures: $(grep load_fail "$TMP/metrics")"
[ "$(metric 'automld_drift_window_rows{model="wine",version="1"}')" = 1 ] || fail "wine drift window: $(grep window_rows "$TMP/metrics")"
http POST /v1/models/wine:predict "$TMP/one.json"
[ "$code" = 200 ] || fail "wine after the refusal -> $code"
sleep 0.6 # polls: a refused version is not retried while its manifest is unchanged
[ "$(grep -c "refused $REPO/stuck/1" "$TMP/d1.log")" = 1 ] || fail "stuck was retried"
t1=$(date +%s.%N)
kill -TERM "$PID"
for _ in $(seq 50); do kill -0 "$PID" 2> /dev/null || break; sleep 0.1; done
kill -0 "$PID" 2> /dev/null && fail "SIGTERM with a blocked load: still running after 5 s"
wait "$PID"
rc=$?
[ "$rc" = 0 ] || fail "SIGTERM with a blocked load -> exit $rc"
below "$(elapsed "$t1")" 4 || fail "SIGTERM took $(elapsed "$t1") s"
if [ "$timed_out" = 1 ]; then
  grep -q '^automld: stopped (abandoning 1 version load(s) still running)$' "$TMP/d1.log" || fail "no clean stop: $(tail -3 "$TMP/d1.log")"
else
  grep -q '^automld: stopped$' "$TMP/d1.log" || fail "no clean stop: $(tail -3 "$TMP/d1.log")"
fi
rm -rf "$REPO/stuck" "$REPO/noref"

# ---- 1 100 slow connections from 127.0.0.1; a client on 127.0.0.2 still gets its answer ----
ulimit -n 4096 2> /dev/null || true
start_daemon "$TMP/d2.log" --repo "$REPO" --poll 0 --client-timeout 3 --threads 2
for _ in $(seq 100); do http GET /v2/health/ready; [ "$code" = 200 ] && break; sleep 0.1; done
fds=()
for _ in $(seq 1100); do
  exec {fd}<> "/dev/tcp/127.0.0.1/$PORT" 2> /dev/null || break
  fds+=("$fd")
  # Headers that never end: each connection holds a slot until the daemon closes it.
  printf 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n' >&"$fd" 2> /dev/null
done
[ "${#fds[@]}" -ge 1000 ] || fail "only ${#fds[@]} slow connections opened"
t2=$(date +%s.%N)
other=$(curl -s -m 10 --interface 127.0.0.2 -o "$TMP/other" -w '%{http_code}' -X POST --data-binary "@$TMP/one.json" \
  "http://127.0.0.1:$PORT/v1/models/wine:predict")
took=$(elapsed "$t2")
[ "$other" = 200 ] || fail "the client on 127.0.0.2 -> $other beside ${#fds[@]} slow connections"
below "$took" 2 || fail "the client on 127.0.0.2 waited $took s"
grep -q '^{"predictions": \[{"label": "' "$TMP/other" || fail "the client on 127.0.0.2 got: $(cat "$TMP/other")"
same=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/live")
[ "$same" = 000 ] || fail "a 65th connection from the slow client's address -> $same, expected refused"
# The slow connections said nothing for 3 s (--client-timeout): closed, their address is served again.
sleep 4.5
same=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/live")
[ "$same" = 200 ] || fail "127.0.0.1 after the client timeout -> $same"
for fd in "${fds[@]}"; do exec {fd}>&-; done
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM after the slow connections -> exit $?"
grep -q '^automld: stopped$' "$TMP/d2.log" || fail "no clean stop: $(tail -3 "$TMP/d2.log")"

# ---- bad values for the new limits ----
expect 2 "automld: --max-client-connections: expected an integer in [1, 1000000], got '0'" -- \
  "$AUTOMLD" --repo "$REPO" --max-client-connections 0
expect 2 "automld: --client-timeout: expected an integer in [1, 3600], got 'x'" -- "$AUTOMLD" --repo "$REPO" --client-timeout x
expect 2 "automld: --load-timeout: expected an integer in [1, 86400], got '0'" -- "$AUTOMLD" --repo "$REPO" --load-timeout 0
finish
