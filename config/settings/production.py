"""Production: behind a TLS-terminating proxy (docs/security.md, "Transmission security").

Refuses to start, rather than run unsafely, without a secret key, with a plain-http address in patients'
links, or with an SMTP connection that is not encrypted (the digest names patients by initials and MRN).
"""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CONTENT_SECURITY_POLICY, DATABASES, NOTIFICATIONS, env

DEBUG = False
# No default: signed diary links and sessions are only as safe as this key (environ raises without it).
SECRET_KEY = env("DJANGO_SECRET_KEY")
# Keys that were ever committed to this repository are public: anyone could forge links with them.
if SECRET_KEY in {"insecure-local-only-key-change-me", "compose-local-secret-change-me", "collectstatic-only"}:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is a published example value; generate a new one.")

# --- Database connections (see base.py): kept for a minute by each web worker and Celery process -------
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)

# --- HTTPS --------------------------------------------------------------------------------------
# The proxy ends TLS and must set X-Forwarded-Proto itself, overwriting whatever the client sent; gunicorn
# must be reachable through the proxy only (docker-compose.yml publishes it on 127.0.0.1).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# The container's health check and the proxy's probes call these over plain http from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CONTENT_SECURITY_POLICY = {
    **CONTENT_SECURITY_POLICY,
    "DIRECTIVES": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "upgrade-insecure-requests": True},
}

if urlsplit(NOTIFICATIONS["PUBLIC_BASE_URL"]).scheme != "https":
    raise ImproperlyConfigured(
        "NOTIFICATIONS_PUBLIC_BASE_URL must be an https:// address in production: patients' diary links "
        f"carry a signed token (got {NOTIFICATIONS['PUBLIC_BASE_URL']!r})."
    )

# --- E-mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="noreply@example.org")

if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend" and not (EMAIL_USE_TLS or EMAIL_USE_SSL):
    raise ImproperlyConfigured(
        "SMTP without TLS in production: set EMAIL_USE_TLS=True (STARTTLS, usually port 587) or "
        "EMAIL_USE_SSL=True (port 465). The coordinators' digest names patients by MRN."
    )

# --- Sign-in (see base.py): staff confirm every sign-in with a one-time code -----------------------
AUTH_MFA_REQUIRED = env.bool("AUTH_MFA_REQUIRED", default=True)
