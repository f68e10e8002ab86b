#!/usr/bin/env bash
# syncfn benchmark, side by side with dlt, on the same loopback provider.
#
#   bench/run.sh                 N in {100000,1000000} x P in {100,1000}, median of 3, dlt too
#   bench/run.sh --quick         smoke run: N=20000, P=100, 1 repetition
#   bench/run.sh --sizes 100000 --pages 100 --repeat 3 --dlt duckdb,sqlite
#
# Options:
#   --sizes LIST      record counts N (comma-separated)            default 100000,1000000
#   --pages LIST      page sizes P (comma-separated)               default 100,1000
#   --repeat K        runs per figure; the median is reported      default 3
#   --dlt LIST        dlt destinations (duckdb,sqlite) or "none"   default duckdb,sqlite
#   --changed-pct X   share of contacts changed before the incremental run  default 1
#   --out DIR         where databases, logs and results go         default target/bench/<time>
#   --phases LIST     subset of full,resync,incr,read (full always runs: the others start
#                     from its store)                              default full,resync,incr,read
#   --timeout SECS    give up on one measured run after SECS; it is recorded as TIMEOUT and
#                     the runner goes on                           default 1800
#   --no-build        use the existing target/release binaries
#
# For every (N, P) and engine it measures four phases, each a whole process under
# /usr/bin/time -v (wall, user+sys CPU, peak RSS):
#   full      first full sync into an empty store
#   resync    a full pass again with nothing changed (syncfn: `run --reset`; must write 0 rows)
#   incr      incremental sync after --changed-pct % of the contacts changed
#   read      reading every record back, 1,000 per page: syncfn through the HTTP records API
#             (`syncfn serve`, paged by bench-read over one keep-alive connection; CPU and peak
#             RSS are the server's), dlt with a cursor on its destination database
# and counts the provider's requests per run (a full pass must send exactly ceil(N/P)).
# Results: $OUT/results.tsv (one row per run) and $OUT/summary.md (medians and ratios).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=100000,1000000
PAGES=100,1000
REPEAT=3
DLT=duckdb,sqlite
CHANGED_PCT=1
OUT=""
BUILD=1
PHASES=full,resync,incr,read
RUN_TIMEOUT=1800

die() { echo "bench: error: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) SIZES=20000; PAGES=100; REPEAT=1; shift ;;
    --sizes) SIZES=${2:?--sizes needs a value}; shift 2 ;;
    --pages) PAGES=${2:?--pages needs a value}; shift 2 ;;
    --repeat) REPEAT=${2:?--repeat needs a value}; shift 2 ;;
    --dlt) DLT=${2:?--dlt needs a value}; shift 2 ;;
    --changed-pct) CHANGED_PCT=${2:?--changed-pct needs a value}; shift 2 ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --phases) PHASES=${2:?--phases needs a value}; shift 2 ;;
    --timeout) RUN_TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat $REPEAT is not a positive number"
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout $RUN_TIMEOUT is not a positive number of seconds"
for ph in ${PHASES//,/ }; do
  [[ $ph =~ ^(full|resync|incr|read)$ ]] || die "--phases entry $ph is not one of full, resync, incr, read"
done
want() { [[ ",$PHASES," == *",$1,"* ]]; }
[[ $DLT == none ]] && DLT=""
for d in ${DLT//,/ }; do
  [[ $d == duckdb || $d == sqlite ]] || die "--dlt destination $d is not one of duckdb, sqlite, none"
done

# --- tools ----------------------------------------------------------------------------------
TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
  say "/usr/bin/time is missing: installing the 'time' package with apt-get"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -q time >&2 || { apt-get update -q >&2 && apt-get install -y -q time >&2; } \
      || die "cannot install 'time' with apt-get; install GNU time so that /usr/bin/time -v works"
  elif command -v sudo >/dev/null; then
    sudo apt-get install -y -q time >&2 \
      || die "cannot install 'time' with sudo apt-get; install GNU time so that /usr/bin/time -v works"
  else
    die "/usr/bin/time is missing and this user cannot apt-get install it: install GNU time"
  fi
fi
[[ $($TIME -v true 2>&1) == *"Maximum resident set size"* ]] \
  || die "$TIME is not GNU time (no -v report): install the 'time' package"
command -v curl >/dev/null || die "curl is needed to read the provider's request counts"
command -v python3 >/dev/null || die "python3 is needed for the summary (and dlt)"

if [[ $BUILD -eq 1 ]]; then
  say "building syncfn and bench-provider (release)"
  (cd "$ROOT" && cargo build --release -q -p syncfn --bin syncfn -p syncfn-bench --bin bench-provider --bin bench-read) \
    || die "release build failed"
fi
SYNCFN=$ROOT/target/release/syncfn
PROVIDER=$ROOT/target/release/bench-provider
READER=$ROOT/target/release/bench-read
[[ -x $SYNCFN && -x $PROVIDER && -x $READER ]] || die "missing $SYNCFN, $PROVIDER or $READER: run without --no-build"

VENV=$ROOT/bench/.venv
if [[ -n $DLT ]]; then
  if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import dlt, duckdb, sqlalchemy" 2>/dev/null; then
    say "installing dlt into $VENV (bench/dlt/requirements.txt)"
    python3 -m venv "$VENV" || die "cannot create the venv $VENV"
    "$VENV/bin/pip" install -q -r "$ROOT/bench/dlt/requirements.txt" || die "pip install of dlt failed"
  fi
  DLT_VERSION=$("$VENV/bin/python" -c "import dlt; print(dlt.__version__)")
fi

OUT=${OUT:-$ROOT/target/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.tsv
printf 'engine\tn\tp\tphase\trep\twall_s\tcpu_s\trss_kb\trecords\trequests\texpected_requests\twritten\tstatus\tprovider_cpu_s\n' >"$RESULTS"
export RUNTIME__DLTHUB_TELEMETRY=false

# --- provider -------------------------------------------------------------------------------
PROVIDER_PID=""
URL=""
CHANGED=0
stop_provider() {
  if [[ -n $PROVIDER_PID ]]; then
    kill "$PROVIDER_PID" 2>/dev/null || true
    wait "$PROVIDER_PID" 2>/dev/null || true
    PROVIDER_PID=""
  fi
}
trap 'stop_provider; stop_serve' EXIT

# start_provider N P REVISION
start_provider() {
  stop_provider
  local ready=$OUT/provider.ready
  rm -f "$ready"
  "$PROVIDER" --records "$1" --page-sizes "$2" --revision "$3" --changed-pct "$CHANGED_PCT" \
    --ready-file "$ready" >"$OUT/provider-n$1-p$2-r$3.log" 2>&1 &
  PROVIDER_PID=$!
  local waited=0
  until [[ -s $ready ]]; do
    kill -0 "$PROVIDER_PID" 2>/dev/null || die "provider exited: $(tail -3 "$OUT/provider-n$1-p$2-r$3.log")"
    sleep 0.2
    waited=$((waited + 1))
    [[ $waited -lt 3000 ]] || die "provider not ready after 600 s"
  done
  URL=$(jq -r .url "$ready")
  CHANGED=$(jq -r .changed "$ready")
  say "provider n=$1 p=$2 revision=$3 at $URL (changed at this revision: $CHANGED)"
}

provider_count() { curl -sf "$URL/_stats" | jq -r ".$1"; }

# CPU ticks (user+sys) the provider used so far, 0 when it is not running.
provider_ticks() {
  if [[ -n $PROVIDER_PID && -r /proc/$PROVIDER_PID/stat ]]; then
    awk '{ print $14 + $15 }' "/proc/$PROVIDER_PID/stat"
  else
    echo 0
  fi
}
CLK_TCK=$(getconf CLK_TCK)

# --- records API server (read phase) ---------------------------------------------------------
SERVE_PID=""
SERVE_URL=""
BENCH_SECRET_KEY=sk-bench-$RANDOM$RANDOM
BENCH_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
stop_serve() {
  if [[ -n $SERVE_PID ]]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
  fi
}

# start_serve DB LOG: `syncfn serve` on a free loopback port; sets SERVE_PID and SERVE_URL.
start_serve() {
  stop_serve
  SYNCFN_SECRET_KEY=$BENCH_SECRET_KEY SYNCFN_ENCRYPTION_KEY=$BENCH_ENCRYPTION_KEY \
    "$SYNCFN" serve --db "$1" --listen 127.0.0.1:0 >"$2" 2>&1 &
  SERVE_PID=$!
  local waited=0
  until grep -q '^listening on http://' "$2"; do
    kill -0 "$SERVE_PID" 2>/dev/null || die "syncfn serve exited: $(tail -3 "$2")"
    sleep 0.1
    waited=$((waited + 1))
    [[ $waited -lt 300 ]] || die "syncfn serve not listening after 30 s: see $2"
  done
  SERVE_URL=$(grep -m1 -o 'http://[0-9.:]*' "$2")
}

# CPU ticks (user+sys) of process PID so far.
pid_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# --- measurement ----------------------------------------------------------------------------
# measure LOG CMD...: runs CMD under /usr/bin/time -v with stdout+stderr to LOG; sets WALL, CPU,
# RSS_KB, REQUESTS and SERVED (provider counts during the run) and PROVIDER_CPU (its CPU seconds).
measure() {
  local log=$1; shift
  local tf=$log.time
  local req0 rec0 t0 t1 tick0 rc=0
  tick0=$(provider_ticks)
  req0=$(provider_count requests 2>/dev/null || echo 0)
  rec0=$(provider_count records 2>/dev/null || echo 0)
  t0=$(date +%s%N)
  timeout --signal=TERM --kill-after=10 "$RUN_TIMEOUT" $TIME -v -o "$tf" "$@" >"$log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  PROVIDER_CPU=$(awk -v a="$tick0" -v b="$(provider_ticks)" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
  TIMED_OUT=0
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    TIMED_OUT=1
    say "gave up after --timeout $RUN_TIMEOUT s: $*"
    WALL=$RUN_TIMEOUT; CPU=NaN; RSS_KB=0; REQUESTS=0; SERVED=0
    return 0
  fi
  [[ $rc -eq 0 ]] || die "command failed ($rc): $* — see $log"
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  CPU=$(awk -F': ' '/User time \(seconds\)/ { u = $2 } /System time \(seconds\)/ { s = $2 }
                    END { printf "%.2f", u + s }' "$tf")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf")
  if [[ -n $PROVIDER_PID ]]; then
    REQUESTS=$(( $(provider_count requests) - req0 ))
    SERVED=$(( $(provider_count records) - rec0 ))
  else
    REQUESTS=0; SERVED=0
  fi
}

# row ENGINE N P PHASE REP RECORDS EXPECTED_REQUESTS WRITTEN STATUS
row() {
  if [[ ${TIMED_OUT:-0} -eq 1 ]]; then set -- "$1" "$2" "$3" "$4" "$5" 0 "$7" 0 TIMEOUT; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
    "$WALL" "$CPU" "$RSS_KB" "$6" "$REQUESTS" "$7" "$8" "$9" "$PROVIDER_CPU" >>"$RESULTS"
  say "$(printf '%-12s n=%-8s p=%-5s %-7s #%s %8.2fs cpu=%6.2fs rss=%6.1fMB records=%s requests=%s written=%s %s' \
    "$1" "$2" "$3" "$4" "$5" "$WALL" "$CPU" "$(awk -v k="$RSS_KB" 'BEGIN { print k / 1024 }')" \
    "$6" "$REQUESTS" "$8" "$9")"
}

field() { { grep -o "$1=[0-9]*" "$2" || echo "$1=-1"; } | tail -1 | cut -d= -f2; }

syncfn_config() { # N P -> config file for the current provider
  local config=$OUT/syncfn-n$1-p$2.json
  printf '{"base_url": "%s", "params": {"page_size": %s}}\n' "$URL" "$2" >"$config"
  echo "$config"
}

# --- syncfn phases --------------------------------------------------------------------------
syncfn_full_and_resync() { # N P
  local n=$1 p=$2 dir=$OUT/syncfn-n$1-p$2 config expected status
  config=$(syncfn_config "$n" "$p")
  expected=$(( (n + p - 1) / p ))
  for rep in $(seq 1 "$REPEAT"); do
    rm -rf "$dir"; mkdir -p "$dir"
    measure "$dir.full.$rep.log" "$SYNCFN" run bench/contacts --connection bench \
      --db "$dir/bench.db" --config "$config" --quiet
    local added; added=$(field added "$dir.full.$rep.log")
    status=ok
    [[ $REQUESTS -eq $expected ]] || status="REQUESTS_${REQUESTS}_NOT_${expected}"
    [[ $added -eq $n ]] || status="$status,ADDED_${added}_NOT_${n}"
    row syncfn "$n" "$p" full "$rep" "$SERVED" "$expected" "$added" "$status"
  done
  rm -rf "$dir.snapshot"; cp -a "$dir" "$dir.snapshot"
  want resync || return 0
  for rep in $(seq 1 "$REPEAT"); do
    measure "$dir.resync.$rep.log" "$SYNCFN" run bench/contacts --connection bench \
      --db "$dir/bench.db" --config "$config" --quiet --reset
    local written
    written=$(( $(field added "$dir.resync.$rep.log") + $(field updated "$dir.resync.$rep.log") \
      + $(field deleted "$dir.resync.$rep.log") ))
    status=ok
    [[ $REQUESTS -eq $expected ]] || status="REQUESTS_${REQUESTS}_NOT_${expected}"
    [[ $written -eq 0 ]] || status="$status,WROTE_${written}_ROWS"
    row syncfn "$n" "$p" resync "$rep" "$SERVED" "$expected" "$written" "$status"
  done
}

syncfn_incr_and_read() { # N P
  local n=$1 p=$2 dir=$OUT/syncfn-n$1-p$2 config status
  config=$(syncfn_config "$n" "$p")
  want incr && for rep in $(seq 1 "$REPEAT"); do
    rm -rf "$dir"; cp -a "$dir.snapshot" "$dir"
    measure "$dir.incr.$rep.log" "$SYNCFN" run bench/contacts --connection bench \
      --db "$dir/bench.db" --config "$config" --quiet
    local updated; updated=$(field updated "$dir.incr.$rep.log")
    status=ok
    [[ $updated -eq $CHANGED ]] || status="UPDATED_${updated}_NOT_${CHANGED}"
    [[ $REQUESTS -eq $(( (SERVED + p - 1) / p )) ]] || status="$status,REQUESTS_${REQUESTS}"
    row syncfn "$n" "$p" incr "$rep" "$SERVED" "$(( (SERVED + p - 1) / p ))" "$updated" "$status"
  done
  want read || return 0
  for rep in $(seq 1 "$REPEAT"); do
    start_serve "$dir/bench.db" "$dir.serve.$rep.log"
    local ticks0; ticks0=$(pid_ticks "$SERVE_PID")
    measure "$dir.read.$rep.log" env SYNCFN_SECRET_KEY="$BENCH_SECRET_KEY" "$READER" \
      --url "$SERVE_URL" --connection bench \
      --model BenchContact --limit 1000
    local server_cpu server_rss client_cpu=$CPU lines
    server_cpu=$(awk -v a="$ticks0" -v b="$(pid_ticks "$SERVE_PID")" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    server_rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVE_PID/status")
    stop_serve
    lines=$(field records "$dir.read.$rep.log")
    # The row reports the server: its CPU while serving and its peak RSS; wall and records/s
    # are end to end as the client saw them.
    [[ ${TIMED_OUT:-0} -eq 1 ]] || { CPU=$server_cpu; RSS_KB=$server_rss; }
    status=http-records
    [[ $lines -eq $n ]] || status="$status,READ_${lines}_NOT_${n}"
    say "read client: cpu=${client_cpu}s $(grep -o 'records_per_s=[0-9]*' "$dir.read.$rep.log" || true)"
    REQUESTS=0
    row syncfn "$n" "$p" read "$rep" "$lines" 0 0 "$status"
  done
}

# --- dlt phases -----------------------------------------------------------------------------
dlt_rows() { jq -r '.rows.contacts // 0' <(grep '^{' "$1" | tail -1); }

dlt_full_and_resync() { # DEST N P
  local d=$1 n=$2 p=$3 dir=$OUT/dlt-$1-n$2-p$3 expected status
  expected=$(( (n + p - 1) / p ))
  for rep in $(seq 1 "$REPEAT"); do
    rm -rf "$dir"; mkdir -p "$dir"
    measure "$dir.full.$rep.log" "$VENV/bin/python" "$ROOT/bench/dlt/pipeline.py" --mode full \
      --base-url "$URL" --limit "$p" --destination "$d" --workdir "$dir"
    local rows; rows=$(dlt_rows "$dir.full.$rep.log")
    status=ok
    [[ $REQUESTS -eq $expected ]] || status="REQUESTS_${REQUESTS}_NOT_${expected}"
    row "dlt-$d" "$n" "$p" full "$rep" "$SERVED" "$expected" "$rows" "$status"
  done
  rm -rf "$dir.snapshot"; cp -a "$dir" "$dir.snapshot"
  want resync || return 0
  for rep in $(seq 1 "$REPEAT"); do
    # Every repetition starts from the state after the full sync: the same work each time, and
    # a run stopped by --timeout leaves no pending load packages to the next one.
    rm -rf "$dir"; cp -a "$dir.snapshot" "$dir"
    measure "$dir.resync.$rep.log" "$VENV/bin/python" "$ROOT/bench/dlt/pipeline.py" --mode resync \
      --base-url "$URL" --limit "$p" --destination "$d" --workdir "$dir"
    local rows; rows=$(dlt_rows "$dir.resync.$rep.log")
    status=ok
    [[ $REQUESTS -eq $expected ]] || status="REQUESTS_${REQUESTS}_NOT_${expected}"
    row "dlt-$d" "$n" "$p" resync "$rep" "$SERVED" "$expected" "$rows" "$status"
  done
}

dlt_incr_and_read() { # DEST N P
  local d=$1 n=$2 p=$3 dir=$OUT/dlt-$1-n$2-p$3 status
  want incr && for rep in $(seq 1 "$REPEAT"); do
    rm -rf "$dir"; cp -a "$dir.snapshot" "$dir"
    measure "$dir.incr.$rep.log" "$VENV/bin/python" "$ROOT/bench/dlt/pipeline.py" \
      --mode incremental --base-url "$URL" --limit "$p" --destination "$d" --workdir "$dir"
    local rows; rows=$(dlt_rows "$dir.incr.$rep.log")
    status=ok
    [[ $rows -ge $CHANGED ]] || status="ROWS_${rows}_BELOW_${CHANGED}"
    row "dlt-$d" "$n" "$p" incr "$rep" "$SERVED" "$(( (SERVED + p - 1) / p ))" "$rows" "$status"
  done
  want read || return 0
  for rep in $(seq 1 "$REPEAT"); do
    measure "$dir.read.$rep.log" "$VENV/bin/python" "$ROOT/bench/dlt/pipeline.py" --mode read \
      --destination "$d" --workdir "$dir"
    local rows; rows=$(dlt_rows "$dir.read.$rep.log")
    status=db-cursor
    [[ $rows -eq $n ]] || status="$status,READ_${rows}_NOT_${n}"
    REQUESTS=0
    row "dlt-$d" "$n" "$p" read "$rep" "$rows" 0 0 "$status"
  done
}

# --- main -----------------------------------------------------------------------------------
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "memory: $(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "syncfn: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (release)"
  echo "dlt: ${DLT_VERSION:-not run}"
  echo "command: bench/run.sh --sizes $SIZES --pages $PAGES --repeat $REPEAT --dlt ${DLT:-none} --changed-pct $CHANGED_PCT --phases $PHASES --timeout $RUN_TIMEOUT"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

for n in ${SIZES//,/ }; do
  for p in ${PAGES//,/ }; do
    start_provider "$n" "$p" 1
    syncfn_full_and_resync "$n" "$p"
    for d in ${DLT//,/ }; do dlt_full_and_resync "$d" "$n" "$p"; done
    want incr || want read || { stop_provider; continue; }
    start_provider "$n" "$p" 2
    syncfn_incr_and_read "$n" "$p"
    for d in ${DLT//,/ }; do dlt_incr_and_read "$d" "$n" "$p"; done
    stop_provider
  done
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
python3 "$ROOT/bench/summarize.py" "$RESULTS" "$OUT/machine.txt" >"$OUT/summary.md"
cat "$OUT/summary.md"
say "results in $OUT (results.tsv, summary.md, logs)"
