#!/usr/bin/env bash
# callgrind.sh WORKLOAD [REQUESTS] [CHECKOUT] -- the instructions paygate's process executes per
# request of WORKLOAD (general path, in process: profile_requests.py without HTTP), counted by
# valgrind's callgrind over REQUESTS requests after 20 of warm-up. Counts, not seconds: the
# same for the same code and data whatever else the machine does, so two versions can be
# compared on a shared machine whose speed drifts (perf's counters are not on every VM).
# PostgreSQL's side is not counted. Slow (~50x): 40 requests take a minute or two.
#
#   bench/callgrind.sh customer_page 40 /tmp/wt/before; bench/callgrind.sh customer_page 40
#
# Needs bench_paygate (run.sh loads it). Environment: PAYGATE_PYTHON (default .venv's).
set -euo pipefail
W=${1:?usage: callgrind.sh WORKLOAD [REQUESTS] [CHECKOUT]}; N=${2:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DIR=$(cd "${3:-$ROOT}" && pwd)
PYTHON=${PAYGATE_PYTHON:-$ROOT/.venv/bin/python}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
(cd "$DIR" && PYTHONPATH="$DIR" PAYGATE_COMPILED_DOCUMENTS=false PAYGATE_LOG_LEVEL=WARNING PYTHONHASHSEED=0 \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
  "$PYTHON" bench/profile_requests.py "$W" --requests "$N" --warmup 20 --callgrind) \
  > /dev/null 2>&1
total=$(awk '/^totals:/ {print $2; exit}' "$OUT")
python3 -c "print('$W', '$DIR', round($total / $N / 1e6, 3), 'M instructions per request')"
