#!/usr/bin/env bash
# `make demo`: migrate, seed the demo data, then run the web server, a Celery worker and beat, and the HL7 v2
# MLLP listener (127.0.0.1:2575, or HL7_LISTEN_HOST/HL7_LISTEN_PORT) together. Ctrl-C stops them all. DATABASE_URL and REDIS_URL come from the environment or `.env`; without them the
# demo runs on SQLite (db.sqlite3) and kombu's filesystem broker under var/broker/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
HOST=127.0.0.1
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
export PYTHONUNBUFFERED=1

# The filesystem broker needs its folders (used when REDIS_URL is unset).
mkdir -p var/broker/queue var/broker/processed var/log

$PY manage.py migrate --no-input
$PY manage.py seed_demo
# DEBUG serves static files itself; otherwise WhiteNoise serves the collected copy.
if [ "$($PY -c 'from django.conf import settings; import django; django.setup(); print(settings.DEBUG)')" != "True" ]; then
    $PY manage.py collectstatic --no-input -v0
fi

pids=()
stop() {
    trap - INT TERM EXIT
    if [ ${#pids[@]} -gt 0 ]; then
        echo
        echo "Stopping the web server, worker, beat and HL7 listener..."
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
# Ctrl-C reaches every process of the group and each child stops itself; bash then sees a child's
# status rather than the signal, so "everything stopped at once" is how an interrupt is recognised.
trap 'stop; exit 0' INT TERM
trap stop EXIT

$PY manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
# One worker process with beat embedded; the schedule file lives in var/ (CELERY_BEAT_SCHEDULE_FILENAME).
.venv/bin/celery -A config worker --beat --loglevel=INFO --concurrency=2 --hostname="demo-worker@%h" &
pids+=($!)
# The HL7 v2 feed: the clinic's interface engine sends SIU/ADT over MLLP; each message is ACKed after commit.
$PY manage.py hl7_listen &
pids+=($!)

cat <<MSG

  DRG pathway demo: http://$HOST:$PORT/ (coordinators' and physicians' pages)
                    http://$HOST:$PORT/admin/ (Django admin)   http://$HOST:$PORT/api/docs/ (API)
  Log in as demo-coordinator or demo-physician (password drg-demo-2026), or admin (admin-demo-2026).
  HL7 v2 MLLP feed: ${HL7_LISTEN_HOST:-127.0.0.1}:${HL7_LISTEN_PORT:-2575} (see "HL7 v2 feed" in README.md).
  The full list of logins is printed above. Ctrl-C stops the server, the worker, beat and the listener.

MSG

# Stop everything as soon as one of them dies, so a crash is not hidden behind a half-running demo.
status=0
wait -n "${pids[@]}" || status=$?
sleep 2
still_running=0
for pid in "${pids[@]}"; do
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in ""|Z*) ;; *) still_running=1 ;; esac  # a zombie has stopped
done
if [ "$still_running" = 0 ]; then
    exit 0
fi
echo "A demo process exited (status $status)." >&2
exit "$status"
