"""Every variable the settings read is documented in .env.example; production refuses unsafe settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_variable_the_code_reads():
    read = set()
    for package in ("config", "pathway", "api", "notifications", "web"):
        for source in (ROOT / package).rglob("*.py"):
            read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no env() calls found: the pattern is stale"
    assert read - documented == set()


# --- Production settings (docs/security.md, "Transmission security") ------------------------------
# Each runs `manage.py check` in a fresh interpreter: production settings are read once, at start-up.

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "k7Qf2-9xLw0pZr4TbYc8NvHs6JmE1aUoGdRi3XyKqWtBnVeCzA5lMhPjSuF",
    "DJANGO_ALLOWED_HOSTS": "pathway.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://pathway.example.org",
    "DATABASE_URL": "postgres://pathway:s3cret@db:5432/pathway",
    "REDIS_URL": "redis://redis:6379/0",
    "API_THROTTLE_REDIS_URL": "redis://redis:6379/1",
    "NOTIFICATIONS_PUBLIC_BASE_URL": "https://pathway.example.org",
    "NOTIFICATIONS_SMS_BACKEND": "twilio",
    "EMAIL_HOST": "smtp.example.org",
    "EMAIL_PORT": "587",
    "EMAIL_USE_TLS": "True",
}


def manage(*args: str, **environment: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "NOTIFICATIONS_"))}
    env.update(PRODUCTION)
    for name, value in environment.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_production_passes_check_deploy_with_no_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("environment", "complaint"), [
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
    ({"DJANGO_SECRET_KEY": "compose-local-secret-change-me"}, "published example value"),
    ({"DJANGO_SECRET_KEY": "insecure-local-only-key-change-me"}, "published example value"),
    ({"NOTIFICATIONS_PUBLIC_BASE_URL": "http://pathway.example.org"}, "must be an https:// address"),
    ({"NOTIFICATIONS_PUBLIC_BASE_URL": None}, "must be an https:// address"),  # the default is http://localhost
    ({"EMAIL_USE_TLS": "False"}, "SMTP without TLS"),
], ids=["no-secret-key", "compose-key", "local-key", "http-base-url", "default-base-url", "smtp-without-tls"])
def test_production_refuses_to_start(environment, complaint):
    result = manage("check", **environment)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_production_takes_smtp_over_implicit_tls():
    assert manage("check", EMAIL_USE_TLS="False", EMAIL_USE_SSL="True", EMAIL_PORT="465").returncode == 0


def test_compose_ships_no_usable_secret_key():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "${DJANGO_SECRET_KEY:?" in compose
    assert "compose-local-secret" not in compose


def test_production_keeps_database_connections_with_a_health_check():
    """Production reuses each process's connection (checked first) instead of connecting on every request."""
    shown = "from django.conf import settings as s; d = s.DATABASES['default']; " \
            "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], 'pool' in d.get('OPTIONS', {}))"
    result = manage("shell", "--no-imports", "-c", shown)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "True", "False"]
    assert manage("shell", "--no-imports", "-c", shown, DATABASE_CONN_MAX_AGE="0").stdout.split()[0] == "0"


def test_compose_keeps_database_connections():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "DATABASE_CONN_MAX_AGE: ${DATABASE_CONN_MAX_AGE:-60}" in compose
    assert 'DATABASE_CONN_HEALTH_CHECKS: "True"' in compose
