#!/usr/bin/env bash
# The long forms of the reliability tests (tests/reliability/): the same tests CI runs in a short
# form, with the long-form sizes. Each section prints its figures (the tests' `print` lines) and the
# script exits non-zero if any section failed. docs/reliability.md records the figures of the last run.
#
#   bench/soak.sh                    # every section (~25 minutes on 2 cores)
#   SECTIONS="fuzz load" bench/soak.sh
#
# Sections (harden):
#   fuzz     hostile input: FUZZ_REQUESTS generated requests (100000) + schemathesis with
#            API_FUZZ_EXAMPLES examples per API operation (60)
#   faults   upstream faults (hang, reset, drip, garbage, 200 MB page, redirect loop, untrusted TLS)
#   fleet    NATS down for NATS_OUTAGE seconds (60) under load, kill -9 of a gateway and the collector
#   load     wrk at 80 % of the measured maximum for LOAD_SECONDS (600)
#   privacy  the privacy scan, single gateway and fleet mode
# Other helpers add their sections below (kill -9 counts, disk full) under their own names.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTEST="$ROOT/.venv/bin/pytest"
[ -x "$PYTEST" ] || { echo "soak.sh: $PYTEST missing (run scripts/setup first)" >&2; exit 2; }
SECTIONS=${SECTIONS:-"fuzz faults fleet load privacy"}
FAILED=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pkgate-soak.XXXXXX")

# run_section <name> <env...> -- <pytest args...>: the tests with -s (their figures), no timeout cap.
run_section() {
    local name=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    echo "== $name ($(date -u +%H:%M:%S))"
    local log="$TMP/$name.log" code=0
    (cd "$ROOT" && env "${envs[@]}" "$PYTEST" -q -s -p no:cacheprovider --timeout=3600 "$@") >"$log" 2>&1 || code=$?
    grep -E '^(fuzz|upstream faults|fleet faults|load):|[0-9]+ (passed|failed)|^E ' "$log" || true
    if [ "$code" != 0 ]; then FAILED+=("$name"); echo "   (full output: $log)"; fi
}

for section in $SECTIONS; do
    case $section in
        fuzz)
            run_section fuzz PKGATE_FUZZ_REQUESTS="${FUZZ_REQUESTS:-100000}" PKGATE_FUZZ_DRAWN="${FUZZ_DRAWN:-4000}" \
                PKGATE_API_FUZZ_EXAMPLES="${API_FUZZ_EXAMPLES:-60}" -- \
                tests/reliability/test_hostile.py tests/reliability/test_api_fuzz.py ;;
        faults) run_section faults -- tests/reliability/test_upstream_faults.py ;;
        fleet) run_section fleet PKGATE_NATS_OUTAGE="${NATS_OUTAGE:-60}" -- tests/reliability/test_fleet_faults.py ;;
        load) run_section load PKGATE_LOAD_SECONDS="${LOAD_SECONDS:-600}" -- tests/reliability/test_load.py ;;
        privacy) run_section privacy PKGATE_SOAK=1 -- tests/e2e/test_privacy.py ;;
        *) echo "soak.sh: unknown section $section" >&2; exit 2 ;;
    esac
done

if [ ${#FAILED[@]} -gt 0 ]; then
    echo "soak: FAILED sections: ${FAILED[*]}"
    exit 1
fi
echo "soak: all sections passed"
