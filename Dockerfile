# One image for web, worker, beat and the HL7 listener (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. The project itself runs from /app
# (templates and static files are found relative to it), so only its dependencies are installed.
COPY pyproject.toml README.md ./
RUN pip install . && pip uninstall -y drg-pathway

COPY . .
# Collecting static files needs no secret: the base settings do (production ones refuse to start without one).
RUN DJANGO_SETTINGS_MODULE=config.settings.base python manage.py collectstatic --no-input -v0 \
    && useradd --create-home --uid 1000 app \
    && mkdir -p var/beat && chown -R app:app var

USER app
EXPOSE 8000 2575
# config/gunicorn.py: bind, workers and the redacted access log.
CMD ["gunicorn", "-c", "config/gunicorn.py"]
