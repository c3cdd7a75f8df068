from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Each checkout (or parallel helper) may name its own test database to avoid collisions.
if name := env("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = name

# Serve static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The webhook tests' receiver listens on 127.0.0.1 over plain HTTP; production allows neither. Private addresses
# stay refused here too: the receiver fixture (and the worker test, through the environment) allows 127.0.0.1.
WEBHOOKS = {**WEBHOOKS, "ALLOWED_SCHEMES": env.list("WEBHOOKS_ALLOWED_SCHEMES", default=["https", "http"])}  # noqa: F405
