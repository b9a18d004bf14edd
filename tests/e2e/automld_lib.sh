# Shared by the automld end-to-end tests (after lib.sh): the daemon on a free port, HTTP through
# curl, and the waits and readings those tests make.
AUTOMLD=${AML_BUILD_DIR:+$AML_BUILD_DIR/bin/}automld
command -v curl > /dev/null || { echo "FAIL: curl is not installed (scripts/setup.sh installs it)"; exit 1; }
HTTP_TIMEOUT=${HTTP_TIMEOUT:-20}

pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
trap '' PIPE # writes to connections the daemon closed must not end the test

# start_daemon LOG ARGS...: starts automld on a free port; sets PORT and PID
start_daemon() {
  local log=$1
  shift
  "$AUTOMLD" --port 0 "$@" 2> "$log" &
  PID=$!
  pids+=("$PID")
  PORT=""
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^automld: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || { fail "automld did not start: $(cat "$log")"; finish; }
}

# http METHOD PATH [BODY_FILE] [curl args...]: status in $code, body in $TMP/body
http() {
  local method=$1 path=$2 data=${3:-}
  shift 3 2> /dev/null || shift $#
  if [ -n "$data" ]; then
    code=$(curl -s -m "$HTTP_TIMEOUT" -o "$TMP/body" -w '%{http_code}' -X "$method" --data-binary "@$data" "$@" "http://127.0.0.1:$PORT$path")
  else
    code=$(curl -s -m "$HTTP_TIMEOUT" -o "$TMP/body" -w '%{http_code}' -X "$method" "$@" "http://127.0.0.1:$PORT$path")
  fi
}

# expect_error CODE 'ERROR JSON' METHOD PATH 'BODY'
expect_error() {
  printf '%s' "$5" > "$TMP/req.json"
  http "$3" "$4" "$TMP/req.json"
  [ "$code" = "$1" ] || fail "$3 $4 '$5' -> $code, expected $1 ($(cat "$TMP/body"))"
  [ "$(cat "$TMP/body")" = "$2" ] || fail "$3 $4 '$5' -> '$(cat "$TMP/body")', expected '$2'"
}

# wait_for DESCRIPTION COMMAND...: retries for up to 20 s
wait_for() {
  local what=$1
  shift
  for _ in $(seq 200); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting for $what"
  return 1
}
ready() { http GET /v2/health/ready; [ "$code" = 200 ]; }
# metric NAME{LABELS}: its value in $TMP/metrics (a /metrics scrape)
metric() { grep -aF "$1 " "$TMP/metrics" | awk '{ print $NF }'; }
