#!/usr/bin/env bash
# The suite twice: on PostgreSQL + Redis (the server run), then on SQLite with a local broker.
# Without the servers the server run is skipped and said so; with CI set, their absence fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/drg_pathway}
TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export DJANGO_SETTINGS_MODULE=config.settings.test

servers_answer() {
    DATABASE_URL=$TEST_DATABASE_URL REDIS_URL=$TEST_REDIS_URL $PY - <<'PY'
import sys
import django
django.setup()
from django.db import connection
from tests.conftest import redis_answers
try:
    with connection._nodb_cursor() as cursor:  # the test database is created on the server's own db
        cursor.execute("SELECT 1")
except Exception as error:
    sys.exit(f"PostgreSQL does not answer: {error}")
if not redis_answers():
    sys.exit("Redis does not answer")
PY
}

# The browser tests drive Debian's chromium. Install it where this user may (root with apt-get); otherwise say
# what to install. With CI set the browser tests never skip: a missing chromium fails them.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing Debian's chromium for the browser tests =="
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "== /usr/bin/chromium is missing: run 'sudo apt-get install -y chromium' (Debian/Ubuntu) for the browser tests ==" >&2
        [ -n "${CI:-}" ] && { echo "CI is set: the browser tests must run." >&2; exit 1; }
    fi
fi

# axe-core for the browser suite's accessibility checks, pinned in tests/web/a11y/package-lock.json.
if [ ! -f tests/web/a11y/node_modules/axe-core/axe.min.js ]; then
    if command -v npm >/dev/null; then
        echo "== installing axe-core from the npm registry for the accessibility checks =="
        npm ci --prefix tests/web/a11y --no-audit --no-fund --loglevel=error
    else
        echo "== npm is missing: install Node.js and npm for the accessibility checks (axe-core) ==" >&2
        [ -n "${CI:-}" ] && { echo "CI is set: the accessibility checks must run." >&2; exit 1; }
    fi
fi

status=0
if servers_answer; then
    echo "== server run: PostgreSQL + Redis =="
    DATABASE_URL=$TEST_DATABASE_URL REDIS_URL=$TEST_REDIS_URL TEST_SERVERS=required \
        $PY -m pytest "$@" || status=$?
elif [ -n "${CI:-}" ]; then
    echo "CI is set and PostgreSQL or Redis does not answer: failing." >&2
    exit 1
else
    echo "== server run skipped: PostgreSQL or Redis does not answer (set TEST_DATABASE_URL / TEST_REDIS_URL) =="
fi

echo "== local run: SQLite + filesystem broker =="
mkdir -p var
DATABASE_URL=sqlite:///var/test.sqlite3 REDIS_URL= $PY -m pytest "$@" || status=$?

# No result may depend on the real date: the suite again with the clock moved (tests/conftest.py, TEST_CLOCK).
# Left out: the browser tests (Chromium keeps the real clock) and the tests of real worker processes and the
# schema fuzzer, which read no date of their own. TEST_CLOCKS="" skips these runs.
for clock in ${TEST_CLOCKS-+400d leap-day dst}; do
    echo "== moved clock: TEST_CLOCK=$clock (SQLite) =="
    TEST_CLOCK=$clock DATABASE_URL=sqlite:///var/test-clock.sqlite3 REDIS_URL= $PY -m pytest \
        -m "not browser" --ignore=tests/notifications/test_workers.py --ignore=tests/api/test_schemathesis.py \
        "$@" || status=$?
done
exit $status
