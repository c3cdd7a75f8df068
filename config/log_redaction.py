"""Keeps patient data out of log lines: query strings, diary-link tokens, phone numbers, e-mail addresses.

URLs are where patient data slips into logs: the API's patient search takes `?search=<name>&mrn=…&birth_date=…`,
the admin's changelists `?q=`, and the diary link carries its signed token in the path (notifications/urls.py,
`diary/<token>/`), as a calendar feed's link does (calendars/urls.py, `calendars/<token>.ics`). Every log line
Django writes goes through `RedactFilter` (settings.LOGGING), gunicorn's access and error logs through
`GunicornLogger` (config/gunicorn.py), Celery's through the same LOGGING (config/celery_app.py). Parameter
names stay, so a line still says what was asked: `?search=[redacted]`.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# A '?' right after a path or a word starts a query string; "Are you sure? …" (space after it) is left alone.
_QUERY = re.compile(r"(?<=[\w/.%-])\?([^\s\"'<>#]+)")
_QUERY_NAME = re.compile(r"^[\w.\[\]-]{1,40}$")
# The diary form's path segment after /diary/ is the signed token (notifications.messages.diary_token).
_DIARY_TOKEN = re.compile(r"(/diary/)[^/\s?\"'<>#]+")
# Everything under /calendars/ is a feed's link, /calendars/<token>.ics: the token (URL-safe base64, no dot) is the
# whole credential, so even a mistyped one is masked.
_CALENDAR_TOKEN = re.compile(r"(/calendars/)[^/\s?\"'<>#.]+")
_PHONE = re.compile(r"\+[1-9]\d{6,14}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# PostgreSQL's unique-violation detail quotes the values: Key (clinic_id, mrn)=(1, DEMO-WALK) already exists.
_KEY_DETAIL = re.compile(r"(Key \([^)]*\))=\([^)]*\)")


def _query(match: re.Match) -> str:
    names = []
    for pair in re.split(r"[&;]", match.group(1)):
        name = pair.split("=", 1)[0]
        names.append(f"{name}={REDACTED}" if "=" in pair and _QUERY_NAME.match(name) else REDACTED)
    return "?" + "&".join(names)


def redact(text: str) -> str:
    text = _DIARY_TOKEN.sub(r"\1[token]", text)
    text = _CALENDAR_TOKEN.sub(r"\1[token]", text)
    text = _QUERY.sub(_query, text)
    text = _KEY_DETAIL.sub(rf"\1=({REDACTED})", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


class RedactFilter(logging.Filter):
    """Rewrites a record's message (arguments merged in) and its traceback text, redacted; never drops one."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class GunicornLogger(Logger):
    """gunicorn's logger with every access-log atom (request line, path, query, referer, headers) redacted."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.addFilter(RedactFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        redacted = {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
        # %(q)s is the bare query string, with no "?" before it for redact() to recognise.
        if query := atoms.get("q"):
            redacted["q"] = redact(f"/?{query}")[2:]
        return redacted
