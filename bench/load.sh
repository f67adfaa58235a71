#!/usr/bin/env bash
# load.sh SIDE URL [QUERIES_DIR] -- closed-loop HTTP load (wrk) against one GraphQL endpoint.
# (The shared yardstick's load.sh, plus BENCH_AUTHORIZATION and this folder's renderer.)
#
# Renders each workload's bodies, checks one response (HTTP 200, no "errors", non-null data),
# warms up, then runs every workload x connection count x repetition and appends one RESULT
# line per run (label "SIDE/WORKLOAD/cCONNS/rREP") to $RESULTS. Reusable for any side: the
# project gets its own QUERIES_DIR with the same file names and "vary" blocks.
#
# Environment (defaults):
#   RESULTS=./results.jsonl  DURATION=10  REPS=3  CONNS="10 50"  WARMUP=5
#   WORKLOADS="ping customer_page"
#   LOAD_CPU=0      CPU list for wrk (taskset -c); empty = no pinning
#   WORK_DIR=/tmp/perf/work   where rendered bodies go
#   BENCH_AUTHORIZATION=      sent as the Authorization header (e.g. "Bearer pgk_…"), if set
#   REP=                      with REPS=1: the repetition's number in the labels
set -euo pipefail

SIDE=${1:?usage: load.sh SIDE URL [QUERIES_DIR]}
URL=${2:?usage: load.sh SIDE URL [QUERIES_DIR]}
HERE=$(cd "$(dirname "$0")" && pwd)
QDIR=${3:-$HERE/queries}
RESULTS=${RESULTS:-./results.jsonl}
DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-"10 50"}
WARMUP=${WARMUP:-5}
WORKLOADS=${WORKLOADS:-"ping customer_page"}
LOAD_CPU=${LOAD_CPU-0}
WORK_DIR=${WORK_DIR:-/tmp/perf/work}
mkdir -p "$WORK_DIR"

PIN=()
if [ -n "$LOAD_CPU" ]; then PIN=(taskset -c "$LOAD_CPU"); fi

for w in $WORKLOADS; do
  bodies="$WORK_DIR/$SIDE.$w.jsonl"
  python3 "$HERE/render_bodies.py" "$QDIR/$w.json" > "$bodies"

  # one checked request: HTTP 200, no GraphQL errors, data present
  auth=()
  [ -n "${BENCH_AUTHORIZATION:-}" ] && auth=(-H "Authorization: $BENCH_AUTHORIZATION")
  code=$(head -1 "$bodies" | curl -s -o "$WORK_DIR/$SIDE.$w.response.json" -w '%{http_code}' \
           -X POST -H 'Content-Type: application/json' "${auth[@]}" --data-binary @- "$URL")
  python3 - "$WORK_DIR/$SIDE.$w.response.json" "$code" "$SIDE/$w" <<'EOF'
import json, sys
path, code, label = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(path, "rb").read()
try:
    doc = json.loads(raw)
except ValueError:
    sys.exit(f"{label}: HTTP {code}, not JSON: {raw[:300]!r}")
data = doc.get("data")
if code != "200" or doc.get("errors") or not data or any(v is None for v in data.values()):
    sys.exit(f"{label}: HTTP {code}, bad response: {raw[:500]!r}")
print(f"check {label}: HTTP 200, {len(raw)} bytes, no errors", file=sys.stderr)
EOF

  # warm-up (JIT, prepared statements, caches), not recorded
  BENCH_BODIES="$bodies" "${PIN[@]}" wrk -t1 -c10 -d"${WARMUP}s" --timeout 10s \
    -s "$HERE/wrk_post.lua" "$URL" > /dev/null

  for c in $CONNS; do
    for r in $(seq 1 "$REPS"); do
      [ -z "${REP:-}" ] || r=$REP  # one repetition of several, numbered by the caller
      line=$(BENCH_BODIES="$bodies" BENCH_LABEL="$SIDE/$w/c$c/r$r" "${PIN[@]}" \
               wrk -t1 -c"$c" -d"${DURATION}s" --timeout 10s -s "$HERE/wrk_post.lua" "$URL" \
             | grep '^RESULT ' | sed 's/^RESULT //')
      echo "$line" >> "$RESULTS"
      python3 "$HERE/summarize.py" --line "$line"
    done
  done
done
