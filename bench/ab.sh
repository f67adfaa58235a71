#!/usr/bin/env bash
# ab.sh WORKLOAD ROUNDS CHECKOUT... -- paygate's general path, several versions in turn: each
# checkout's server (production profile, compiled documents off, pool 10) pinned to CPU 1,
# wrk with 10 connections on CPU 0 (as PostgreSQL, which run.sh pins there), DUR seconds after
# 2 of warm-up; ROUNDS rounds, the checkouts alternating in each. Prints req/s and the
# server's CPU milliseconds per request (utime + stime from /proc over the run's requests),
# and where perf can count them its instructions and cycles per request: on a shared machine
# whose speed drifts, compare versions within a round, and prefer the instructions.
#
#   git worktree add /tmp/wt/before <commit>
#   DUR=4 bench/ab.sh customer_page 3 /tmp/wt/before .
#
# Needs what run.sh leaves: the bench_paygate database (and wrk). Environment: DUR=5, CONNS=10.
set -euo pipefail
W=${1:?usage: ab.sh WORKLOAD ROUNDS CHECKOUT...}; R=${2:?rounds}; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PYTHON=${PAYGATE_PYTHON:-$ROOT/.venv/bin/python}
PORT=${PAYGATE_PORT:-5056}
URL="http://127.0.0.1:$PORT/graphql"
ENVV=(env PAYGATE_DATABASE_URL="postgresql://bench:bench@127.0.0.1:5432/bench_paygate"
      PAYGATE_PROFILE=production PAYGATE_LOG_LEVEL=WARNING PAYGATE_DB_POOL_SIZE=10
      PAYGATE_DB_MAX_OVERFLOW=0 PAYGATE_HOST=127.0.0.1 PAYGATE_PORT="$PORT"
      PAYGATE_COMPILED_DOCUMENTS=false PAYGATE_QUERY_COST__RATE_ADMIN=1000000000/minute)
KEY=$(cd "$ROOT" && "${ENVV[@]}" "$PYTHON" -m app.cli create-api-key --name "ab-$(date +%s)" --role admin 2>/dev/null)
BODIES=$(mktemp)
trap 'rm -f "$BODIES"' EXIT
python3 "$HERE/render_bodies.py" "$HERE/queries/$W.json" > "$BODIES"
export BENCH_BODIES=$BODIES BENCH_AUTHORIZATION="Bearer $KEY"
C=${CONNS:-10}
# Instructions retired and cycles spent by the server per request (perf stat), where perf can
# count them: on a machine whose speed drifts, steadier than time (instructions the most).
PERF=""
# (a virtual machine may have perf without the hardware counters: "<not supported>")
if perf stat -e instructions -x, true 2>&1 | grep -q '^[0-9]*,,instructions'; then PERF=1; fi
for r in $(seq 1 "$R"); do
  for d in "$@"; do
    (cd "$d" && exec taskset -c 1 "${ENVV[@]}" "$PYTHON" -m app.cli serve --log-level warning) \
      > /dev/null 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
      curl -s -o /dev/null -X POST -H 'content-type: application/json' \
        -d '{"query":"{__typename}"}' "$URL" && break
      sleep 0.2
    done
    SERVER=$(pgrep -P "$PID" -f "app.cli serve" || echo "$PID")
    taskset -c 0 wrk -t1 -c"$C" -d2s -s "$HERE/wrk_post.lua" "$URL" > /dev/null
    COUNTS=$(mktemp)
    if [ -n "$PERF" ]; then
      perf stat -e instructions,cycles -x, -o "$COUNTS" -p "$SERVER" & SPY=$!
    fi
    t0=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
    out=$(taskset -c 0 wrk -t1 -c"$C" -d"${DUR:-5}"s -s "$HERE/wrk_post.lua" "$URL")
    t1=$(awk '{print $14 + $15}' "/proc/$SERVER/stat")
    insns=""
    if [ -n "$PERF" ]; then
      kill -INT "$SPY"; wait "$SPY" 2>/dev/null || true
      insns=$(awk -F, '$3 == "instructions" {print $1}' "$COUNTS")
      cycles=$(awk -F, '$3 == "cycles" {print $1}' "$COUNTS")
    fi
    rm -f "$COUNTS"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    ticks=$(getconf CLK_TCK)
    per=""
    if [ -n "$insns" ]; then
      per="  $(python3 -c "print(round($insns / $n / 1e6, 2), 'M instructions,', round($cycles / $n / 1e6, 2), 'M cycles')") per request"
    fi
    echo "round $r  $d  $rps req/s  $(python3 -c "print(round(($t1 - $t0) * 1000 / $ticks / $n, 2))") ms CPU/request$per"
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
  done
done
