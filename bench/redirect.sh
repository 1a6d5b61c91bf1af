#!/usr/bin/env bash
# Redirect throughput: nginx `return 302` vs a bare Python 302 app vs the pkgate gateway's
# file-redirect path with recording on, measured with wrk in one run, same worker count each; and
# the gateway's OCI blob redirect (307 to an open registry, `gateway-oci`) against its Python one.
#
#   bench/redirect.sh                       # everything, ~1.5 minutes
#   WORKERS=2 DURATION=20s bench/redirect.sh
#   SERVERS="nginx bare-rsgi gateway-rsgi" bench/redirect.sh
#
# Environment: WORKERS (1), DURATION (10s), WARMUP (2s), CONNECTIONS (64), THREADS (1),
# LINKS (500 distinct signed files), SERVERS (all of: nginx bare-rsgi bare-asgi uvicorn
# gateway-rsgi gateway-rsgi-spool gateway-asgi gateway-npm gateway-oci; `gateway-npm` is the RSGI gateway on
# signed npm tarball links instead of Python file links, `gateway-oci` on OCI blob redirects; `-spool` defers loading into DuckDB to shutdown, so
# it measures answering + durable spooling without the loader competing for the same core), PIN (1: pin servers and wrk to separate CPUs when there are enough),
# FSYNC (the gateway's storage.fsync: batched, always or off; default batched),
# SERVER_CPUS / WRK_CPUS (taskset lists, default: the first WORKERS cpus / the rest),
# KEEP_TMP (1: keep the temp dir with configs, logs and the DuckDB file).
#
# Output on stdout: one `<name> req/s <x> p99 <y>ms` line per server, then `ratio_vs_bare <x>`
# (gateway RSGI / bare RSGI), `ratio_vs_nginx <y>` (gateway RSGI / nginx), `ratio_vs_bare_spool <z>`
# (gateway-rsgi-spool / bare RSGI), `ratio_npm_vs_python` (npm tarball redirects / Python file
# redirects, same run), `ratio_oci_vs_python` (OCI blob redirects / Python file redirects, both
# RSGI), and for each gateway run `recorded <n> of <m> requests`, `worker_rss_mb <r>` (largest
# worker's RSS at the end of the run) and `loader_events_per_cpu_s <e>` (events loaded into DuckDB
# per CPU-second of the loading thread, from the supervisor's log). Progress goes to stderr. Exit
# status 1 if a gateway lost events or answered anything but 302.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
PY="$ROOT/.venv/bin/python"
WORKERS=${WORKERS:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
LINKS=${LINKS:-500}
FSYNC=${FSYNC:-batched}
SERVERS=${SERVERS:-"nginx bare-rsgi bare-asgi uvicorn gateway-rsgi gateway-npm gateway-oci gateway-rsgi-spool gateway-asgi"}
SECRET="bench-secret-0123456789"
LOCATION="https://files.example.org/packages/ab/cd/ef/example-1.0-py3-none-any.whl"

for tool in wrk nginx curl taskset; do
    command -v "$tool" >/dev/null || { echo "redirect.sh: $tool not found (apt-get install -y nginx-light wrk curl util-linux)" >&2; exit 2; }
done
[ -x "$PY" ] || { echo "redirect.sh: $PY missing (run scripts/setup first)" >&2; exit 2; }

# ---- CPU pinning: wrk shares the machine, so keep it off the server's cores when possible -----
NCPU=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -gt "$WORKERS" ]; then
    SERVER_CPUS=${SERVER_CPUS:-0-$((WORKERS - 1))}
    WRK_CPUS=${WRK_CPUS:-$WORKERS-$((NCPU - 1))}
    SRV_PIN=(taskset -c "$SERVER_CPUS")
    WRK_PIN=(taskset -c "$WRK_CPUS")
    PIN_NOTE="servers on cpu $SERVER_CPUS, wrk on cpu $WRK_CPUS"
else
    SRV_PIN=()
    WRK_PIN=()
    PIN_NOTE="not pinned (WORKERS=$WORKERS, $NCPU cpus)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pkgate-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    stop_server || true
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# stop_server: SIGTERM the server's process group (everything it spawned) and wait for it.
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID
    SERVER_PID=""
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 1800); do # the gateway loads what is left in its spool before it exits
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "server $pid did not stop in 180s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# start_server <name> <log> <cmd...>: run the command in its own process group, pinned.
start_server() {
    local name=$1 logfile=$2
    shift 2
    setsid "${SRV_PIN[@]}" "$@" >"$logfile" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 150); do
        # /healthz: the gateway does not record it, so the event count stays exact.
        if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    log "$name did not start; its log:"
    cat "$logfile" >&2
    stop_server
    FAILED=1
    return 1
}

# check_redirect <path> [status scheme]: one request must be a 302 (or <status>) to an https (or
# <scheme>) URL; prints the location.
check_redirect() {
    local out status=${2:-302} scheme=${3:-https}
    out=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$PORT$1")
    case $out in
        "$status $scheme://"*) echo "${out#"$status" }" ;;
        *) log "expected a $status for $1, got: $out"; return 1 ;;
    esac
}

# cpu_ticks: CPU time (clock ticks, user + system, all threads) used so far by the server's
# process group. wrk may be the bottleneck (nginx), so CPU per request is the fairer comparison.
cpu_ticks() {
    local pid stat rest comm
    for pid in $(pgrep -g "$SERVER_PID" || true); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        comm=${stat#*(}
        comm=${comm%%)*}
        read -r -a f <<<"$rest"
        echo "$pid ${comm// /_} $((f[11] + f[12]))"
    done
}

# cpu_split <before> <after> <seconds>: "<total ticks>|<comm>/<pid> <pct>% ..." (per-process share).
cpu_split() {
    awk -v secs="$3" -v hz="$(getconf CLK_TCK)" '
        NR == FNR { before[$1] = $3; next }
        { d = $3 - before[$1]; total += d; if (d > 0) out = out sprintf(" %s/%s %.0f%%", $2, $1, 100 * d / hz / secs) }
        END { printf "%d|%s\n", total, out }' <(echo "$1") <(echo "$2")
}

# run_wrk <duration> -> "requests p99_us status_errors socket_errors rps"
run_wrk() {
    local out line
    out=$(PATHS_FILE="$PATHS" "${WRK_PIN[@]}" wrk -t "$THREADS" -c "$CONNECTIONS" -d "$1" --latency \
        -s "$BENCH/rotate.lua" "http://127.0.0.1:$PORT")
    echo "$out" >>"$TMP/wrk.log"
    line=$(grep '^BENCH ' <<<"$out")
    awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%d %d %d %d %.0f\n", v["requests"], v["p99_us"], v["status_errors"], v["socket_errors"],
            v["requests"] / (v["duration_us"] / 1e6)
    }' <<<"$line"
}

declare -A RPS P99 CPU
ORDER=()
FAILED=0
RECORDED_LINES=()
EXTRA_LINES=()

# worker_rss_mb: the largest RSS (MiB) among the server's processes other than the one started
# (the gateway's workers; the supervisor, which runs the loader, is logged separately).
worker_rss_mb() {
    local pid kb max=0
    for pid in $(pgrep -g "$SERVER_PID" || true); do
        [ "$pid" = "$SERVER_PID" ] && continue
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        [ -n "$kb" ] && [ "$kb" -gt "$max" ] && max=$kb
    done
    awk -v kb="$max" 'BEGIN { printf "%.1f", kb / 1024 }'
}

# loader_rate <server log>: events per CPU-second over every "loader: N events in X CPU-s" line.
loader_rate() {
    awk '/loader: [0-9]+ events in/ {
            for (i = 1; i <= NF; i++) { if ($i == "loader:") n += $(i + 1); if ($i == "CPU-s") s += $(i - 1) }
        }
        END { if (s > 0) printf "%.0f (%d events, %.2f CPU-s)", n / s, n, s; else print "n/a" }' "$1"
}

# measure <name>: warm up, measure, print and remember the figures. Sets TOTAL (all requests sent).
measure() {
    local name=$1 warm main
    local t0 t1 hz split ticks
    warm=$(run_wrk "$WARMUP")
    t0=$(cpu_ticks)
    main=$(run_wrk "$DURATION")
    t1=$(cpu_ticks)
    hz=$(getconf CLK_TCK)
    read -r w_req _ w_serr w_sock _ <<<"$warm"
    read -r m_req m_p99 m_serr m_sock m_rps <<<"$main"
    TOTAL=$((w_req + m_req))
    RPS[$name]=$m_rps
    P99[$name]=$(awk -v u="$m_p99" 'BEGIN { printf "%.2f", u / 1000 }')
    split=$(cpu_split "$t0" "$t1" "$(awk -v n="$m_req" -v r="$m_rps" 'BEGIN { print n / r }')")
    ticks=${split%%|*}
    CPU[$name]=$(awk -v t="$ticks" -v hz="$hz" -v n="$m_req" -v r="$m_rps" \
        'BEGIN { s = t / hz; printf "cpu %.0f%% of one core, %.0f req per cpu-second", 100 * s * r / n, (s > 0 ? n / s : 0) }')
    CPU[$name]="${CPU[$name]};${split#*|}"
    ORDER+=("$name")
    log "$name: $m_rps req/s, p99 ${P99[$name]}ms, $m_req requests ($((m_serr + w_serr)) non-3xx, $((m_sock + w_sock)) socket errors); ${CPU[$name]}"
    if [ $((m_serr + w_serr)) -ne 0 ]; then
        log "$name answered $((m_serr + w_serr)) requests with a status other than 2xx/3xx"
        FAILED=1
    fi
}

# ---- request paths: signed links the gateway accepts (the other servers ignore the path) -------
PATHS="$TMP/paths.txt"
"$PY" "$BENCH/make_links.py" --secret "$SECRET" --count "$LINKS" >"$PATHS"
FIRST_PATH=$(head -n 1 "$PATHS")
NPM_PATHS="$TMP/npm-paths.txt"
"$PY" "$BENCH/make_links.py" --secret "$SECRET" --count "$LINKS" --ecosystem npm >"$NPM_PATHS"
log "workers=$WORKERS duration=$DURATION warmup=$WARMUP connections=$CONNECTIONS threads=$THREADS links=$LINKS; $PIN_NOTE"

run_nginx() {
    local dir="$TMP/nginx"
    mkdir -p "$dir/logs" "$dir/tmp"
    local user=""
    if [ "$(id -u)" = 0 ]; then user="user $(id -un) $(id -gn);"; fi
    sed -e "s|@USER@|$user|" -e "s|@WORKERS@|$WORKERS|" -e "s|@PORT@|$PORT|" -e "s|@DIR@|$dir|g" \
        -e "s|@LOCATION@|$LOCATION|" "$BENCH/nginx.conf.template" >"$dir/nginx.conf"
    start_server nginx "$dir/server.log" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' || return 0
    check_redirect "$FIRST_PATH" >/dev/null || { stop_server; FAILED=1; return 0; }
    measure nginx
    stop_server
    log "nginx access log: $(wc -l <"$dir/logs/access.log") lines"
}

run_granian_bare() {
    local name=$1 interface=$2 module=$3
    start_server "$name" "$TMP/$name.log" env PYTHONPATH="$BENCH" "$ROOT/.venv/bin/granian" \
        --interface "$interface" --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
        --log-level warning "$module:app" || return 0
    check_redirect "$FIRST_PATH" >/dev/null || { stop_server; FAILED=1; return 0; }
    measure "$name"
    stop_server
}

run_uvicorn() {
    start_server uvicorn "$TMP/uvicorn.log" env PYTHONPATH="$BENCH" "$ROOT/.venv/bin/uvicorn" \
        --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" --loop uvloop --http httptools \
        --no-access-log --log-level warning bare_asgi:app || return 0
    check_redirect "$FIRST_PATH" >/dev/null || { stop_server; FAILED=1; return 0; }
    measure uvicorn
    stop_server
}

# count_events <data_dir> [kind status] -> "all redirects" events in the store (file/302 by default).
count_events() {
    "$PY" - "$1/pkgate.duckdb" "${2:-file}" "${3:-302}" <<'EOF'
import sys

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
query = "SELECT count(*), count(*) FILTER (WHERE kind = ? AND status = ?) FROM events"
row = con.execute(query, [sys.argv[2], int(sys.argv[3])]).fetchone()
print(*row)
EOF
}

run_gateway() {
    local name=$1 interface=$2 load_interval=$3 dir="$TMP/$1" ecosystem=${4:-python}
    local npm_config="" saved_paths=$PATHS saved_first=$FIRST_PATH
    if [ "$ecosystem" = npm ]; then
        npm_config=$'[upstreams.npm]\nurl = "http://127.0.0.1:9/"\necosystem = "npm"\n[npm]\ndefault_upstream = "npm"\n'
        PATHS=$NPM_PATHS
        FIRST_PATH=$(head -n 1 "$PATHS")
    fi
    mkdir -p "$dir/data"
    cat >"$dir/pkgate.toml" <<EOF
[server]
host = "127.0.0.1"
port = $PORT
workers = $WORKERS
interface = "$interface"

[gateway]
id = "bench"
secret = "$SECRET"

[upstreams.pypi]
url = "http://127.0.0.1:9/simple/"
$npm_config
[storage]
data_dir = "$dir/data"
load_interval = $load_interval
fsync = "$FSYNC"
EOF
    start_server "$name" "$dir/server.log" "$ROOT/.venv/bin/pkgate" serve --config "$dir/pkgate.toml" || return 0
    local location
    location=$(check_redirect "$FIRST_PATH") || { stop_server; PATHS=$saved_paths; FIRST_PATH=$saved_first; FAILED=1; return 0; }
    case $location in
        https://files.example.org/packages/*) ;;
        *) log "$name redirected to an unexpected location: $location"; FAILED=1 ;;
    esac
    measure "$name"
    PATHS=$saved_paths
    FIRST_PATH=$saved_first
    local sent=$((TOTAL + 1)) # + the check request
    local rss sup_kb
    rss=$(worker_rss_mb)
    sup_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    log "$name: worker RSS $rss MiB, supervisor (loader) RSS $((sup_kb / 1024)) MiB"
    stop_server
    local suffix=""
    [ "$name" = gateway-rsgi ] || suffix=" ($name)"
    EXTRA_LINES+=("worker_rss_mb $rss$suffix")
    EXTRA_LINES+=("loader_events_per_cpu_s $(loader_rate "$dir/server.log")$suffix")
    local all file302
    read -r all file302 <<<"$(count_events "$dir/data")"
    # wrk stops with up to CONNECTIONS requests in flight per run: the gateway answered (and
    # recorded) them but wrk did not count them. So n may exceed m by that much, never fall short.
    local slack=$((2 * CONNECTIONS))
    local line="recorded $all of $sent requests"
    [ "$name" = gateway-rsgi ] || line="$line ($name)"
    RECORDED_LINES+=("$line")
    if [ "$all" -lt "$sent" ] || [ "$all" -gt $((sent + slack)) ] || [ "$file302" -ne "$all" ]; then
        log "$name: $all events ($file302 file/302) for $sent counted requests (allowed: up to +$slack in flight)"
        FAILED=1
    fi
}

# The OCI blob path: `pkgate serve` before an open "registry" (a static server holding LINKS blobs,
# which the gateway asks once per blob before memoising the redirect), 307s to its blob URLs.
run_gateway_oci() {
    local name=gateway-oci dir="$TMP/gateway-oci" reg_port
    mkdir -p "$dir/data" "$dir/registry/v2/bench/app/blobs"
    reg_port=$(free_port)
    "$PY" -c '
import hashlib, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    digest = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
    open(f"{root}/v2/bench/app/blobs/{digest}", "w").close()
    print(f"/v2/bench/app/blobs/{digest}")
' "$dir/registry" "$LINKS" >"$dir/paths.txt"
    setsid "$PY" -m http.server --bind 127.0.0.1 --directory "$dir/registry" "$reg_port" >"$dir/registry.log" 2>&1 &
    local reg_pid=$!
    cat >"$dir/pkgate.toml" <<EOF
[server]
host = "127.0.0.1"
port = $PORT
workers = $WORKERS
interface = "rsgi"

[gateway]
id = "bench"
secret = "$SECRET"
default_upstream = ""

[upstreams.registry]
url = "http://127.0.0.1:$reg_port"
ecosystem = "oci"

[oci]
default_upstream = "registry"

[storage]
data_dir = "$dir/data"
load_interval = 1.0
fsync = "$FSYNC"
EOF
    local python_paths=$PATHS
    PATHS="$dir/paths.txt"
    if start_server "$name" "$dir/server.log" "$ROOT/.venv/bin/pkgate" serve --config "$dir/pkgate.toml"; then
        # Each blob's first request asks the registry (a slow stub here); the scenario measures the
        # steady state, so every blob is asked for once before wrk starts (and counted).
        local warm_codes
        warm_codes=$(sed "s|^|http://127.0.0.1:$PORT|" "$PATHS" | xargs curl -s -o /dev/null -w '%{http_code}\n' | sort | uniq -c | tr -s ' ')
        log "$name: warmed every blob: $warm_codes"
        if check_redirect "$(head -n 1 "$PATHS")" 307 http >/dev/null; then
            measure "$name"
            local sent=$((TOTAL + 1 + LINKS))
            stop_server
            local all blobs
            read -r all blobs <<<"$(count_events "$dir/data" blob 307)"
            RECORDED_LINES+=("recorded $all of $sent requests ($name)")
            if [ "$all" -lt "$sent" ] || [ "$all" -gt $((sent + 2 * CONNECTIONS)) ] || [ "$blobs" -ne "$all" ]; then
                log "$name: $all events ($blobs blob/307) for $sent counted requests"
                FAILED=1
            fi
        else
            stop_server
            FAILED=1
        fi
    fi
    PATHS=$python_paths
    kill -TERM -- "-$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
}

for server in $SERVERS; do
    PORT=$(free_port)
    case $server in
        nginx) run_nginx ;;
        bare-rsgi) run_granian_bare bare-rsgi rsgi bare_rsgi ;;
        bare-asgi) run_granian_bare bare-asgi asgi bare_asgi ;;
        uvicorn) run_uvicorn ;;
        gateway-rsgi) run_gateway gateway-rsgi rsgi 1.0 ;;
        gateway-rsgi-spool) run_gateway gateway-rsgi-spool rsgi 86400.0 ;;
        gateway-asgi) run_gateway gateway-asgi asgi 1.0 ;;
        gateway-npm) run_gateway gateway-npm rsgi 1.0 npm ;;
        gateway-oci) run_gateway_oci ;;
        *) log "unknown server $server"; exit 2 ;;
    esac
done

ratio() {
    if [ -n "${RPS[$1]:-}" ] && [ -n "${RPS[$2]:-}" ]; then
        awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN { printf "%.3f", a / b }'
    else
        echo "n/a"
    fi
}

for name in "${ORDER[@]}"; do
    echo "$name req/s ${RPS[$name]} p99 ${P99[$name]}ms"
done
echo "ratio_vs_bare $(ratio gateway-rsgi bare-rsgi)"
echo "ratio_vs_nginx $(ratio gateway-rsgi nginx)"
echo "ratio_vs_bare_spool $(ratio gateway-rsgi-spool bare-rsgi)"
echo "ratio_npm_vs_python $(ratio gateway-npm gateway-rsgi)"
echo "ratio_oci_vs_python $(ratio gateway-oci gateway-rsgi)"
for line in "${RECORDED_LINES[@]}"; do echo "$line"; done
for line in "${EXTRA_LINES[@]}"; do echo "$line"; done
for name in "${ORDER[@]}"; do log "$name: ${CPU[$name]}"; done
exit "$FAILED"
