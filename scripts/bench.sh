#!/usr/bin/env bash
# Benchmarks print figures; they are not timed tests. They run on PostgreSQL (BENCH_DATABASE_URL) in a
# database of their own that they create and drop.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/drg_bench}
export DJANGO_SETTINGS_MODULE=config.settings.test
for bench in benchmarks/*_bench.py; do
    echo "== $bench =="
    .venv/bin/python "$bench" "$@"
done
