#!/usr/bin/env bash
# Long form of the kill -9 and disk-full fault tests (tests/reliability/test_crash_kill.py,
# test_disk_full.py): KILLS kill -9s per part (default 150: 150 store-side + 150 gateway-side = 300),
# at random points of the loader's transactions, rollup refreshes and retention runs, and of the
# gateway's workers and supervisor under 16 concurrent clients; then the spool's disk full.
#
#   bench/soak_kill.sh                  # ~300 kills; tens of minutes on 2 cores
#   KILLS=30 SEED=7 bench/soak_kill.sh
#
# Output: per part one line `store kills=... rebuilds=... lost=0 duplicated=0`,
# `gateway kills=... rebuilds=... lost=0 duplicated=0`, `disk full: 503s=... lost=0 duplicated=0`.
# Exit status 1 if anything answered was lost, counted twice, or a store did not open.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_KILLS="${KILLS:-150}" SOAK_SEED="${SEED:-$RANDOM}"
echo "soak_kill: kills per part ${SOAK_KILLS}, seed ${SOAK_SEED}" >&2
exec .venv/bin/pytest -q -s -p no:cacheprovider --timeout=0 \
  tests/reliability/test_crash_kill.py tests/reliability/test_disk_full.py
