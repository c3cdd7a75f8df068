#!/usr/bin/env bash
# Benchmarks print figures; they are not timed tests. They run on PostgreSQL (BENCH_DATABASE_URL) in a
# database of their own that they create and drop. Each records its figures; the table at the end has them all
# (figure, floor, ratio, goal, pass or FAIL, and the command that measures it alone).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/drg_bench}
export DJANGO_SETTINGS_MODULE=config.settings.test
mkdir -p var
export BENCH_RESULTS=${BENCH_RESULTS:-var/bench-results.jsonl}
: > "$BENCH_RESULTS"
failed=""
for bench in benchmarks/*_bench.py; do
    echo "== $bench =="
    .venv/bin/python "$bench" "$@" || failed="$failed $bench"
done
echo
echo "== every figure ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores) =="
.venv/bin/python benchmarks/benchtable.py "$BENCH_RESULTS"
if [ -n "$failed" ]; then
    echo "these benchmarks stopped with an error (their figures are missing above):$failed"
    exit 1
fi
