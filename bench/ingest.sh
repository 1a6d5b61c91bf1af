#!/usr/bin/env bash
# Access-log ingest speed: `pkgate ingest` (parse + classify + enrich + store) against GoAccess on
# the same generated nginx `combined` log, in the same run.
#
#   bench/ingest.sh                 # 1M lines
#   LINES=200000 bench/ingest.sh
#   JOBS=2 KEEP_TMP=1 bench/ingest.sh
#   ROUNDS=3 bench/ingest.sh        # both, alternating, 3 times: the median round's figures
#
# Prints `ingest lines/s`, `goaccess lines/s`, both peak RSS, `ratio_vs_goaccess` (wall-clock
# lines/s of pkgate over GoAccess's) and, steadier on a shared machine, the same per CPU-second.
# GoAccess (Debian `goaccess`) is installed here if missing (tests do not need it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LINES=${LINES:-1000000}
JOBS=${JOBS:-0}
ROUNDS=${ROUNDS:-1}
PY=$ROOT/.venv/bin/python

if ! command -v goaccess >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "ingest.sh: installing goaccess" >&2
        apt-get install -y -q goaccess >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q goaccess >/dev/null; }
    else
        echo "ingest.sh: goaccess not found (apt-get install -y goaccess)" >&2
        exit 2
    fi
fi

TMP=$(mktemp -d /tmp/pkgate-ingest-bench.XXXXXX)
if [ -z "${KEEP_TMP:-}" ]; then trap 'rm -rf "$TMP"' EXIT; else echo "ingest.sh: keeping $TMP" >&2; fi
LOG=$TMP/access.log
echo "ingest.sh: generating $LINES lines" >&2
"$PY" bench/make_access_log.py "$LINES" >"$LOG"
echo "ingest.sh: $(du -h "$LOG" | cut -f1) log; cpus=$(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat "$LOG" >/dev/null  # both runs start from the page cache

printf '[storage]\ndata_dir = "%s"\n' "$TMP/data" >"$TMP/pkgate.toml"
# TZ set: with TZ unset, glibc's localtime() stats /etc/localtime on every call, and GoAccess
# calls it once a line (one newfstatat a line under strace; ~8 % of its time). Its best, not ours.
for r in $(seq 1 "$ROUNDS"); do  # rounds alternate the two: a machine's drift hits both alike
    rm -rf "$TMP/data"
    TZ=UTC "$PY" bench/peak.py goaccess "$LOG" --log-format=COMBINED --no-progress -o "$TMP/goaccess.json" >"$TMP/goaccess.$r.peak"
    "$PY" bench/peak.py "$ROOT/.venv/bin/pkgate" ingest --config "$TMP/pkgate.toml" --jobs "$JOBS" --no-progress "$LOG" \
        >"$TMP/ingest.$r.peak" 2>"$TMP/ingest.err"
    cat "$TMP/ingest.err" >&2
done

"$PY" - "$LINES" "$ROUNDS" "$TMP" <<'PYEOF'
import json, sys
lines, rounds, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rate = lambda r: lines / r["seconds"]
cpu_rate = lambda r: lines / r["cpu_seconds"]
mib = lambda kib: kib / 1024
runs = []
for r in range(1, rounds + 1):
    ing, ga = (json.load(open(f"{tmp}/{name}.{r}.peak")) for name in ("ingest", "goaccess"))
    assert ing["rc"] == 0 and ga["rc"] == 0, (ing, ga)
    runs.append((rate(ing) / rate(ga), ing, ga))
    if rounds > 1:
        print(f"round {r}: ingest lines/s {rate(ing):.0f}, goaccess lines/s {rate(ga):.0f}, ratio {runs[-1][0]:.2f}")
runs.sort(key=lambda run: run[0])
_, ing, ga = runs[(len(runs) - 1) // 2]  # the median round (the lower one of an even count)
if rounds > 1:
    print(f"median of {rounds} rounds (ratio); peak RSS is the largest of all rounds:")
    ing = dict(ing, peak_rss_max_kib=max(r[1]["peak_rss_max_kib"] for r in runs))
print(f"ingest lines/s {rate(ing):.0f}")
print(f"goaccess lines/s {rate(ga):.0f}")
print(f"ingest peak_rss_mib {mib(ing['peak_rss_max_kib']):.0f} (largest process; tree sum {mib(ing['peak_rss_sum_kib']):.0f})")
print(f"goaccess peak_rss_mib {mib(ga['peak_rss_max_kib']):.0f}")
print(f"ingest lines_per_cpu_s {cpu_rate(ing):.0f}")
print(f"goaccess lines_per_cpu_s {cpu_rate(ga):.0f}")
print(f"ratio_vs_goaccess {rate(ing) / rate(ga):.2f}")
print(f"cpu_ratio_vs_goaccess {cpu_rate(ing) / cpu_rate(ga):.2f}")
PYEOF
