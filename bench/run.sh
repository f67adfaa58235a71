#!/usr/bin/env bash
# run.sh -- paygate and its peer (PostGraphile v4) side by side, in one run, on this machine:
#   1. starts PostgreSQL 15 if it is down (and stops it again at the end, by PID)
#   2. creates role `bench` and database `bench_payments` if missing, seeds it with peer/seed.sql
#      (unless it already holds this exact seed), and loads the same data into paygate's own
#      schema in `bench_paygate` (load_paygate.py; skipped when current)
#   3. installs PostGraphile under $PEER_DIR if missing (npm), creates a paygate admin API key
#   4. pins PostgreSQL to $PG_CPU; each server in turn runs alone on $APP_CPU, wrk on $LOAD_CPU
#   5. checks that both sides answer the workloads with the same data (same_data.py)
#   6. loads the peer, then paygate, one repetition at a time (load.sh, wrk), until REPS
#   7. prints both sides and the ratios (compare.py), stops what it started by PID
#
# Both sides get the same pool ($POOL connections, paygate without overflow), the same CPU,
# the same bodies (same seeded bench ids), and authorisation: paygate is asked with an admin
# API key (Authorization: Bearer pgk_…), in its production profile.
#
# Environment (defaults):
#   PORT=5055 (peer)  PAYGATE_PORT=5056  POOL=10  DURATION=10  REPS=3  CONNS="10 50"  WARMUP=5
#   WORKLOADS="ping customer_page customers_list"
#   APP_CPU=1  LOAD_CPU=0  PG_CPU=0     taskset CPU lists; set PIN=0 to disable all pinning
#   SIDES="postgraphile paygate"        which sides to load
#   PEER_DIR=/tmp/perf/peer  OUT=/tmp/perf/results/<timestamp>  (results.jsonl, summary.md, logs)
#   PAYGATE_ENV="..."                   extra PAYGATE_* settings for the paygate server
#   PAYGATE_PYTHON=/path/to/python      the interpreter of paygate's server (default: .venv's),
#                                       e.g. a venv on another CPython build (bench/README.md)
#
#   DURATION=2 REPS=1 WARMUP=1 bash bench/run.sh      # a smoke run, a couple of minutes
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PORT=${PORT:-5055}
PAYGATE_PORT=${PAYGATE_PORT:-5056}
POOL=${POOL:-10}
export DURATION=${DURATION:-10} REPS=${REPS:-3} CONNS=${CONNS:-"10 50"} WARMUP=${WARMUP:-5}
export WORKLOADS=${WORKLOADS:-"ping customer_page customers_list"}
SIDES=${SIDES:-"postgraphile paygate"}
PIN=${PIN:-1}
APP_CPU=${APP_CPU:-1}
PG_CPU=${PG_CPU:-0}
export LOAD_CPU=${LOAD_CPU-0}
PEER_DIR=${PEER_DIR:-/tmp/perf/peer}
PEER_VERSION=${PEER_VERSION:-4.14.1}
PAYGATE_ENV=${PAYGATE_ENV:-}
OUT=${OUT:-/tmp/perf/results/$(date +%Y%m%d-%H%M%S)}
export WORK_DIR=${WORK_DIR:-/tmp/perf/work}
export RESULTS=$OUT/results.jsonl

PG_VER=15 PG_CLUSTER=main
PG_PIDFILE=/var/run/postgresql/$PG_VER-$PG_CLUSTER.pid
DB=bench_payments DB_USER=bench DB_PASS=bench
export BENCH_DSN="postgresql://$DB_USER:$DB_PASS@127.0.0.1:5432/$DB"
PAYGATE_DSN="postgresql://$DB_USER:$DB_PASS@127.0.0.1:5432/bench_paygate"
export PGPASSWORD=$DB_PASS
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U "$DB_USER" -d "$DB")
PYTHON=$ROOT/.venv/bin/python

if [ "$PIN" = 0 ]; then APP_CPU="" PG_CPU="" LOAD_CPU=""; fi
mkdir -p "$OUT" "$WORK_DIR"
log() { echo "[run] $*" >&2; }

STARTED_PG_PID="" PEER_PID="" PAYGATE_PID="" PG_REPINNED=0
stop() {  # stop one server we started, by PID
  local pid=$1 name=$2
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  set +e
  stop "$PEER_PID" PostGraphile
  stop "$PAYGATE_PID" paygate
  if [ "$PG_REPINNED" = 1 ] && [ -z "$STARTED_PG_PID" ] && [ -f "$PG_PIDFILE" ]; then
    pm=$(head -1 "$PG_PIDFILE")
    for p in "$pm" $(pgrep -P "$pm"); do taskset -a -pc "0-$(($(nproc) - 1))" "$p" >/dev/null 2>&1; done
    log "PostgreSQL CPU affinity restored"
  fi
  if [ -n "$STARTED_PG_PID" ] && kill -0 "$STARTED_PG_PID" 2>/dev/null; then
    log "stopping PostgreSQL (postmaster pid $STARTED_PG_PID)"
    kill -INT "$STARTED_PG_PID"
    for _ in $(seq 1 100); do kill -0 "$STARTED_PG_PID" 2>/dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # URL PID LOGFILE
  for _ in $(seq 1 150); do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data '{"query":"{__typename}"}' "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; exit 1; }
    sleep 0.2
  done
  log "no answer from $1"; exit 1
}

# ---- 1. PostgreSQL ---------------------------------------------------------------------------
if ! pg_lsclusters -h "$PG_VER" "$PG_CLUSTER" | grep -q online; then
  log "starting PostgreSQL $PG_VER/$PG_CLUSTER"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VER" "$PG_CLUSTER" start
  STARTED_PG_PID=$(head -1 "$PG_PIDFILE")
fi

# ---- 2. role, databases, data --------------------------------------------------------------------
if ! "${PSQL[@]}" -Atc 'select 1' >/dev/null 2>&1; then
  log "creating role $DB_USER and database $DB"
  as_pg=(runuser -u postgres --)
  [ "$(id -u)" = 0 ] || as_pg=(sudo -u postgres)
  "${as_pg[@]}" psql -X -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS' CREATEDB;
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $DB OWNER $DB_USER'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB')\gexec
SQL
fi
want="bench-seed:$(md5sum "$HERE/peer/seed.sql" | cut -c1-32)"
have=$("${PSQL[@]}" -Atc "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = current_database()")
if [ "$have" != "$want" ]; then
  log "seeding $DB with peer/seed.sql (~15 s)"
  "${PSQL[@]}" -f "$HERE/peer/seed.sql" >/dev/null
  "${PSQL[@]}" -c "COMMENT ON DATABASE $DB IS '$want'"
else
  log "database $DB already seeded ($want)"
fi
[ -x "$PYTHON" ] || make -C "$ROOT" deps
"$PYTHON" "$HERE/load_paygate.py" --source-dsn "$BENCH_DSN" --dsn "$PAYGATE_DSN"

# ---- 3. PostGraphile, wrk, API key ---------------------------------------------------------------
PG_BIN=$PEER_DIR/node_modules/.bin/postgraphile
if [ ! -x "$PG_BIN" ]; then
  log "installing postgraphile@$PEER_VERSION under $PEER_DIR"
  mkdir -p "$PEER_DIR"
  (cd "$PEER_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund "postgraphile@$PEER_VERSION" >/dev/null)
fi
command -v wrk >/dev/null || { log "wrk missing: apt-get install -y wrk"; exit 1; }
for p in "$PORT" "$PAYGATE_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null; then
    log "port $p is already in use; choose another PORT / PAYGATE_PORT"; exit 1
  fi
done

# PAYGATE_LOG_LEVEL=WARNING: no INFO line per request, as the peer runs with --disable-query-log
# (PAYGATE_ENV="PAYGATE_LOG_LEVEL=INFO" measures with them: bench/README.md has both)
# The query rate limit by cost stays on (every request is estimated and spent), with room for
# one caller's thousands of requests a second: the load is what is measured.
PAYGATE=(env PAYGATE_DATABASE_URL="$PAYGATE_DSN" PAYGATE_PROFILE=production PAYGATE_LOG_LEVEL=WARNING
         PAYGATE_DB_POOL_SIZE="$POOL" PAYGATE_DB_MAX_OVERFLOW=0
         PAYGATE_QUERY_COST__RATE_ADMIN=1000000000/minute
         PAYGATE_HOST=127.0.0.1 PAYGATE_PORT="$PAYGATE_PORT" $PAYGATE_ENV)
AUTH=""
if key=$("${PAYGATE[@]}" "$ROOT/.venv/bin/paygate" create-api-key --name "bench-$(date +%s)" \
           --role admin 2>"$OUT/create-api-key.log"); then
  AUTH="Bearer $key"
  log "paygate: created an admin API key; requests carry Authorization: Bearer ${key:0:17}…"
else
  # a paygate without API keys: no authorisation to pass (anonymous callers may do everything)
  log "paygate: no create-api-key (see $OUT/create-api-key.log): requests go without credentials"
  PAYGATE+=(PAYGATE_AUTH__ANONYMOUS_ROLE=admin)
fi

# ---- 4. pin PostgreSQL (postmaster + its children; new backends inherit) ---------------------
if [ -n "$PG_CPU" ]; then
  pm=$(head -1 "$PG_PIDFILE")
  for p in "$pm" $(pgrep -P "$pm"); do taskset -a -pc "$PG_CPU" "$p" >/dev/null; done
  PG_REPINNED=1
  log "PostgreSQL pinned to CPU $PG_CPU, servers to CPU ${APP_CPU:-any}, wrk to CPU ${LOAD_CPU:-any}"
fi
APP_PIN=()
[ -n "$APP_CPU" ] && APP_PIN=(taskset -c "$APP_CPU")

start_peer() {
  NODE_ENV=production "${APP_PIN[@]}" "$PG_BIN" \
    --connection "$BENCH_DSN" --schema public --host 127.0.0.1 --port "$PORT" \
    --max-pool-size "$POOL" --disable-query-log --disable-graphiql \
    >> "$OUT/postgraphile.log" 2>&1 &
  PEER_PID=$!
  wait_for "$PEER_URL" "$PEER_PID" "$OUT/postgraphile.log"
  log "PostGraphile up on $PEER_URL (pid $PEER_PID, pool $POOL)"
}
start_paygate() {
  (cd "$ROOT" && exec "${APP_PIN[@]}" "${PAYGATE[@]}" "${PAYGATE_PYTHON:-$ROOT/.venv/bin/python}" \
    -m app.cli serve --log-level warning) >> "$OUT/paygate.log" 2>&1 &
  PAYGATE_PID=$!
  wait_for "$PAYGATE_URL" "$PAYGATE_PID" "$OUT/paygate.log"
  log "paygate $(git -C "$ROOT" rev-parse --short HEAD) up on $PAYGATE_URL (pid $PAYGATE_PID, pool $POOL, production profile, $("${PAYGATE_PYTHON:-$ROOT/.venv/bin/python}" -c 'import sys; print("Python", sys.version.split()[0])'))"
}
PEER_URL="http://127.0.0.1:$PORT/graphql"
PAYGATE_URL="http://127.0.0.1:$PAYGATE_PORT/graphql"

# ---- 5. same data on both sides ---------------------------------------------------------------
start_peer
start_paygate
data_workloads=$(for w in $WORKLOADS; do [ "$w" != ping ] && echo -n "$w "; done)
if [ -n "$data_workloads" ]; then
  python3 "$HERE/same_data.py" --peer "$PEER_URL" --paygate "$PAYGATE_URL" \
    --authorization "$AUTH" --workloads "$data_workloads"
fi

# ---- 6. load: the sides take turns, one repetition each ------------------------------------------
# Both servers stay up (the idle one costs no CPU) and each repetition loads the peer, then
# paygate: a machine whose speed drifts during the run (shared hosts do) slows both sides
# alike, instead of whichever side was loaded second.
log "load: sides [$SIDES] x workloads [$WORKLOADS] x conns [$CONNS] x $REPS reps x ${DURATION}s (warm-up ${WARMUP}s per workload and rep), sides alternating"
[ -n "$PEER_PID" ] || ! [[ " $SIDES " == *" postgraphile "* ]] || start_peer
[ -n "$PAYGATE_PID" ] || ! [[ " $SIDES " == *" paygate "* ]] || start_paygate
for rep in $(seq 1 "$REPS"); do
  for side in $SIDES; do
    case $side in
      postgraphile)
        REPS=1 REP=$rep "$HERE/load.sh" postgraphile "$PEER_URL" "$HERE/peer/queries" ;;
      paygate)
        REPS=1 REP=$rep BENCH_AUTHORIZATION="$AUTH" "$HERE/load.sh" paygate "$PAYGATE_URL" "$HERE/queries" ;;
      *) log "unknown side $side"; exit 1 ;;
    esac
  done
done
stop "$PEER_PID" PostGraphile; PEER_PID=""
stop "$PAYGATE_PID" paygate; PAYGATE_PID=""

# ---- 7. summary -------------------------------------------------------------------------------
{
  echo "paygate $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs," \
       "DURATION=$DURATION REPS=$REPS WARMUP=$WARMUP POOL=$POOL APP_CPU=${APP_CPU:-any}" \
       "PG_CPU=${PG_CPU:-any} LOAD_CPU=${LOAD_CPU:-any}"
  echo
  python3 "$HERE/summarize.py" "$RESULTS"
  echo
  python3 "$HERE/compare.py" "$RESULTS"
} | tee "$OUT/summary.md"
log "results in $OUT"
