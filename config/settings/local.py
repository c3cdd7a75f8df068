from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Prints e-mails with addresses, MRNs and diary tokens masked (the digest names patients by MRN).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="notifications.channels.console.MaskingConsoleEmailBackend")

# Serve static files straight from the apps, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
