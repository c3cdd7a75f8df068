"""gunicorn's settings for the web service (Dockerfile and docker-compose.yml: `gunicorn -c config/gunicorn.py`).

The access log is on, on stdout, and redacted: query strings and diary tokens never reach it
(config/log_redaction.py). TLS ends at the proxy in front; it sets X-Forwarded-Proto, which Django trusts
(SECURE_PROXY_SSL_HEADER in config/settings/production.py, docs/security.md).
"""

import os

wsgi_app = "config.wsgi:application"
bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
accesslog = "-"
errorlog = "-"
logger_class = "config.log_redaction.GunicornLogger"
# The request line (%(r)s) is redacted before it is formatted; so are the referer and user agent.
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
