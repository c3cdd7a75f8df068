"""Settings shared by every environment; each value can be overridden from the environment or `.env`."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me")
# Rotating the secret key: the new one in DJANGO_SECRET_KEY, the old ones here until what they signed or
# encrypted (sessions, diary links, stored idempotent answers) has expired.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_fsm",
    "pgtrigger",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "events",
    "pathway",
    "api",
    "notifications",
    "outcomes",
    "web",
    "fhir_r4",
    "calendars",
    "hl7_feed",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files (which WhiteNoise answers itself) stay cacheable.
    "config.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.RefuseNulMiddleware",  # before anything reads a cookie, header or parameter
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: it names who read which patient's data, for every page, API call and admin view.
    "api.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context_processors.inbox_count",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Seconds a connection is kept for the next request or task of the same process (0: a new connection every
# request, some 13-15 ms of PostgreSQL's start-up each time). Production keeps them (production.py); the health
# check pings a reused connection once before a request uses it, so a restarted database costs one reconnect,
# not an error. Persistent connections rather than psycopg's pool: gunicorn's sync workers and Celery's prefork
# children serve one request or task at a time, so a pool per process would hold one connection anyway, and
# Django refuses the pool together with CONN_MAX_AGE.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, worker and beat share one SQLite file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# --- Browser security headers (docs/security.md) -----------------------------------------------
# No page needs an inline script (htmx is vendored and configured by a <meta> tag), so scripts come from
# our own origin only. <style> elements need the request's nonce (`request.csp_nonce`); style="" attributes
# cannot carry one, and with every fetch limited to 'self' an injected style cannot send anything away.
# /api/docs/ (Swagger UI's own inline <style>) relaxes style-src-elem in api/urls.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-elem": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Celery -------------------------------------------------------------------------------------
# Without REDIS_URL the broker is kombu's filesystem transport: a real worker and beat run on one
# machine with nothing installed.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}

# --- Clinic policy (DOMAIN.md) ------------------------------------------------------------------
# Clinic-level overrides live on the Clinic model; these are the defaults.
PATHWAY = {
    "RELIEF_THRESHOLD_PERCENT": env.int("PATHWAY_RELIEF_THRESHOLD_PERCENT", default=50),
    "TRIAL_EXPECTED_DAYS": env.int("PATHWAY_TRIAL_EXPECTED_DAYS", default=7),
    "MIN_PAIN_MONTHS": env.int("PATHWAY_MIN_PAIN_MONTHS", default=6),
    # Days an episode may stay in a stage before it is flagged as stalled (the trial uses its expected end).
    "STAGE_LIMIT_DAYS": {"evaluation": 60, "trial_review": 14, "implant": 60},
    # Follow-up milestones created by record_implant: (key, appointment kind, due day, window start, window end).
    "FOLLOW_UP_MILESTONES": [
        ("wound_check", "wound_check", 10, 7, 14),
        ("programming", "programming", 14, 10, 21),
    ],
    "FOLLOW_UP_MONTHS": [1, 3, 6, 12],
    "FOLLOW_UP_MONTH_WINDOW_DAYS": 14,
    "FOLLOW_UP_YEARS": env.int("PATHWAY_FOLLOW_UP_YEARS", default=5),
    # Prior authorizations on the worklist: submitted with no answer for more than this many days...
    "AUTHORIZATION_PENDING_DAYS": env.int("PATHWAY_AUTHORIZATION_PENDING_DAYS", default=14),
    # ...and approved ones that lapse before their procedure: before the booked date, or, with none booked,
    # within this many days.
    "AUTHORIZATION_LOOKAHEAD_DAYS": env.int("PATHWAY_AUTHORIZATION_LOOKAHEAD_DAYS", default=14),
}

# --- Outcomes (outcomes/) --------------------------------------------------------------------------
OUTCOMES = {
    # A follow-up NRS this much below the baseline mean (percent) makes a responder.
    "RESPONDER_REDUCTION_PERCENT": env.int("OUTCOMES_RESPONDER_REDUCTION_PERCENT", default=50),
    # The follow-up milestones the clinic report shows outcomes for (FollowUpMilestone keys).
    "REPORT_MILESTONES": ["month_3", "month_6", "month_12"],
    # Counts from 1 to one below this are exported as "< N", so a CSV never points at a patient.
    "SMALL_CELL_THRESHOLD": env.int("OUTCOMES_SMALL_CELL_THRESHOLD", default=5),
    # The follow-up questionnaire (docs/outcomes.md): sent when a milestone's window opens, at this clinic-local
    # time (moved out of quiet hours); reminded once after REMINDER_DAYS unanswered; on the coordinators'
    # worklist WORKLIST_DAYS after the reminder. Its link works for LINK_MAX_AGE_DAYS.
    "QUESTIONNAIRE_MILESTONES": env.list("OUTCOMES_QUESTIONNAIRE_MILESTONES", default=[
        "month_3", "month_6", "month_12", "month_24", "month_36", "month_48", "month_60"]),
    "QUESTIONNAIRE_SEND_TIME": env("OUTCOMES_QUESTIONNAIRE_SEND_TIME", default="10:00"),
    "QUESTIONNAIRE_REMINDER_DAYS": env.int("OUTCOMES_QUESTIONNAIRE_REMINDER_DAYS", default=7),
    "QUESTIONNAIRE_WORKLIST_DAYS": env.int("OUTCOMES_QUESTIONNAIRE_WORKLIST_DAYS", default=7),
    "QUESTIONNAIRE_LINK_MAX_AGE_DAYS": env.int("OUTCOMES_QUESTIONNAIRE_LINK_MAX_AGE_DAYS", default=60),
}

# --- Inputs (config/inputs.py) ------------------------------------------------------------------
# Limits every door shares (API, pages, webhook): dates outside these years are refused, as is JSON nested
# deeper than this (Python's parser recurses once per level).
INPUTS = {
    "YEAR_MIN": env.int("INPUTS_YEAR_MIN", default=1900),
    "YEAR_MAX": env.int("INPUTS_YEAR_MAX", default=2200),
    "JSON_MAX_DEPTH": env.int("INPUTS_JSON_MAX_DEPTH", default=32),
}

# --- API (api/) -----------------------------------------------------------------------------------
API = {
    # Requests a minute per API key or signed-in user, in DRF's rate syntax ("600/min").
    "THROTTLE_RATE": env("API_THROTTLE_RATE", default="600/min"),
    # Where the counts live: a Redis URL shares them between web processes; empty keeps them per process.
    "THROTTLE_REDIS_URL": env("API_THROTTLE_REDIS_URL", default=""),
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "MAX_PAGE_SIZE": 200,
    "IDEMPOTENCY_HOURS": 24,
    # A key's last_used_at is written at most this often, so a busy key does not write on every request.
    "KEY_LAST_USED_RESOLUTION_SECONDS": 60,
    # Each process keeps a key it has checked this long, so a busy integration is not hashed and looked up on
    # every request: a key revoked or expired elsewhere (another web process, the admin) stops working within
    # this many seconds; in the process that revokes it, at once. 0 checks every request.
    "KEY_CACHE_SECONDS": env.int("API_KEY_CACHE_SECONDS", default=5),
    "READY_BROKER_TIMEOUT_SECONDS": env.float("API_READY_BROKER_TIMEOUT_SECONDS", default=2.0),
}
# --- FHIR R4 (fhir_r4/) --------------------------------------------------------------------------
FHIR = {
    # Bundle pages: _count defaults to this and is capped (silently, as FHIR allows) at the maximum.
    "PAGE_SIZE": env.int("FHIR_PAGE_SIZE", default=50),
    "MAX_PAGE_SIZE": env.int("FHIR_MAX_PAGE_SIZE", default=200),
    # The prefix of this product's own code systems, extensions and identifier systems.
    "SYSTEM_BASE": env("FHIR_SYSTEM_BASE", default="urn:drg-pathway"),
    # The MRN's identifier system per clinic slug (the EHR's own, e.g. "urn:oid:1.2.36.146.595.217.0.1");
    # a clinic not named here gets "<SYSTEM_BASE>:clinic:<slug>:mrn".
    "MRN_SYSTEMS": env.json("FHIR_MRN_SYSTEMS", default={}),
    # Bulk export ($export) ndjson files: private (no URL serves this directory), deleted once downloaded.
    "EXPORT_DIR": env("FHIR_EXPORT_DIR", default=str(BASE_DIR / "var" / "private" / "fhir-export")),
}
# --- HL7 v2 feed over MLLP (hl7_feed/, `manage.py hl7_listen`) ---------------------------------------
# Loopback by default: the interface engine reaches the listener through this host (or a tunnel/VPN).
HL7_LISTEN_HOST = env("HL7_LISTEN_HOST", default="127.0.0.1")
HL7_LISTEN_PORT = env.int("HL7_LISTEN_PORT", default=2575)
# MSH-3 of our ACKs (MSH-4 is the clinic's slug, as the sender addressed it).
HL7_APPLICATION = env("HL7_APPLICATION", default="DRG-PATHWAY")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ClinicAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF for people
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsClinicStaff"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.CallerRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPage",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.OrjsonRenderer"],  # DRF's JSON, by orjson (api/renderers.py)
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DRG pathway API",
    "DESCRIPTION": "Front-desk and clinical integrations. Errors are RFC 9457 application/problem+json.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are for staff and integrations only (docs/security.md, "API documentation").
    "SERVE_PERMISSIONS": ["api.permissions.CanReadSchema"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.refuse_unknown_request_fields",
    ],
    "ENUM_NAME_OVERRIDES": {
        name + "Enum": f"pathway.stages.{name}"
        for name in ("ConsentMethod", "Stage", "AppointmentKind", "AppointmentStatus", "ChecklistItemKind",
                     "ChecklistStatus", "EpisodeStatus", "AuthorizationStatus", "AuthorizationStep")
    },
}

# --- Notifications (notifications/) ---------------------------------------------------------------
# Reminders, diary prompts and the coordinators' digest (docs/reminders.md). Times of day are clinic-local.
NOTIFICATIONS = {
    # Hours before an appointment, counted on the clinic's wall clock (so "24 h" is the same time the day
    # before, also across a daylight-saving change). Procedures (pathway.stages.PROCEDURE_KINDS) get the extra
    # offsets too; OFFSETS_BY_KIND replaces both for a kind, e.g. {"imaging": [48]}.
    "REMINDER_OFFSETS_HOURS": env.list("NOTIFICATIONS_REMINDER_OFFSETS_HOURS", cast=int, default=[72, 24]),
    "PROCEDURE_EXTRA_OFFSETS_HOURS": env.list("NOTIFICATIONS_PROCEDURE_EXTRA_OFFSETS_HOURS", cast=int, default=[2]),
    "OFFSETS_BY_KIND": env.json("NOTIFICATIONS_OFFSETS_BY_KIND", default={}),
    # Nothing reaches a patient between these times; a reminder falling inside moves to QUIET_START minus the
    # margin (so a sweep a minute late still sends before quiet hours).
    "QUIET_START": env("NOTIFICATIONS_QUIET_START", default="21:00"),
    "QUIET_END": env("NOTIFICATIONS_QUIET_END", default="08:00"),
    "QUIET_MARGIN_MINUTES": env.int("NOTIFICATIONS_QUIET_MARGIN_MINUTES", default=10),
    # A reminder this late is skipped with a reason rather than sent.
    "MAX_LATENESS_MINUTES": env.int("NOTIFICATIONS_MAX_LATENESS_MINUTES", default=60),
    "SWEEP_INTERVAL_SECONDS": env.float("NOTIFICATIONS_SWEEP_INTERVAL_SECONDS", default=60.0),
    "SWEEP_BATCH_SIZE": env.int("NOTIFICATIONS_SWEEP_BATCH_SIZE", default=500),
    "LEASE_SECONDS": env.int("NOTIFICATIONS_LEASE_SECONDS", default=300),
    # Temporary provider failures: attempts in all, and the wait before each retry.
    "MAX_ATTEMPTS": env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=4),
    "RETRY_BACKOFF_SECONDS": env.list("NOTIFICATIONS_RETRY_BACKOFF_SECONDS", cast=int, default=[60, 300, 900]),
    "DIARY_PROMPT_TIME": env("NOTIFICATIONS_DIARY_PROMPT_TIME", default="18:00"),
    "DIARY_LINK_MAX_AGE_HOURS": env.int("NOTIFICATIONS_DIARY_LINK_MAX_AGE_HOURS", default=48),
    "DIGEST_TIME": env("NOTIFICATIONS_DIGEST_TIME", default="07:00"),
    # Absolute links in messages (the diary form) start with this.
    "PUBLIC_BASE_URL": env("NOTIFICATIONS_PUBLIC_BASE_URL", default="http://localhost:8000"),
    # console | in-memory | redis-list (counts sends across processes) | twilio, or a dotted class path.
    "SMS_BACKEND": env("NOTIFICATIONS_SMS_BACKEND", default="console"),
    "SMS_RECORD_REDIS_URL": env("NOTIFICATIONS_SMS_RECORD_REDIS_URL", default=REDIS_URL or "redis://127.0.0.1:6379/0"),
    "SMS_RECORD_KEY": env("NOTIFICATIONS_SMS_RECORD_KEY", default="notifications:sms-sent"),
    # Simulated provider latency of the redis-list backend (tests and benchmarks).
    "SMS_RECORD_DELAY_SECONDS": env.float("NOTIFICATIONS_SMS_RECORD_DELAY_SECONDS", default=0.0),
    "TWILIO_ACCOUNT_SID": env("TWILIO_ACCOUNT_SID", default=""),
    "TWILIO_AUTH_TOKEN": env("TWILIO_AUTH_TOKEN", default=""),
    "TWILIO_FROM_NUMBER": env("TWILIO_FROM_NUMBER", default=""),
    "TWILIO_API_BASE": env("TWILIO_API_BASE", default="https://api.twilio.com"),
    "TWILIO_TIMEOUT_SECONDS": env.float("TWILIO_TIMEOUT_SECONDS", default=10.0),
    # The inbound webhook's public URL as Twilio calls it (signatures cover it); empty: the request's own URL.
    "TWILIO_WEBHOOK_URL": env("TWILIO_WEBHOOK_URL", default=""),
    # What a coordinator can answer a patient's SMS with, from the inbox: key -> [label, text]. The text may
    # name only {clinic} and {phone} (the clinic's), so no reply can carry patient data; checked at start-up.
    "REPLY_TEMPLATES": env.json("NOTIFICATIONS_REPLY_TEMPLATES", default={
        "received": ["We got your message", "{clinic}: we got your message and will call you during office "
                     "hours. If it is urgent call {phone}. Reply STOP to opt out."],
        "call_us": ["Please call us", "{clinic}: please call us at {phone} about your message. "
                    "Reply STOP to opt out."],
        "appointments": ["Changing an appointment", "{clinic}: to change or cancel an appointment please call "
                         "{phone}. Reply STOP to opt out."],
        "emergency": ["Not for emergencies", "{clinic}: texts are not read around the clock. In an emergency "
                      "call 911; otherwise call us at {phone}."],
    }),
}
CELERY_BEAT_SCHEDULE.update(
    {
        "notifications-sweep": {
            "task": "notifications.sweep",
            "schedule": NOTIFICATIONS["SWEEP_INTERVAL_SECONDS"],
        },
        "notifications-plan-digests": {"task": "notifications.plan_digests", "schedule": 600.0},
        "notifications-plan-diary-prompts": {"task": "notifications.plan_diary_prompts", "schedule": 600.0},
        "notifications-plan-questionnaires": {"task": "notifications.plan_questionnaires", "schedule": 600.0},
        "notifications-resync-changed-patients": {"task": "notifications.resync_changed_patients", "schedule": 600.0},
    }
)


# --- Webhooks (webhooks/) -------------------------------------------------------------------------
# Standard Webhooks deliveries of the events (events/): a sweep claims due deliveries, one task each.
WEBHOOKS = {
    "ALLOWED_SCHEMES": env.list("WEBHOOKS_ALLOWED_SCHEMES", default=["https"]),
    # Addresses allowed although private or loopback (the tests' receiver on 127.0.0.1); empty in production.
    "ALLOWED_PRIVATE_ADDRESSES": env.list("WEBHOOKS_ALLOWED_PRIVATE_ADDRESSES", default=[]),
    "SWEEP_INTERVAL_SECONDS": env.float("WEBHOOKS_SWEEP_INTERVAL_SECONDS", default=10.0),
    "SWEEP_BATCH_SIZE": env.int("WEBHOOKS_SWEEP_BATCH_SIZE", default=200),
    "LEASE_SECONDS": env.int("WEBHOOKS_LEASE_SECONDS", default=60),
    # Short, so one slow receiver holds one worker slot for seconds, not the others' deliveries.
    "CONNECT_TIMEOUT_SECONDS": env.float("WEBHOOKS_CONNECT_TIMEOUT_SECONDS", default=3.0),
    "READ_TIMEOUT_SECONDS": env.float("WEBHOOKS_READ_TIMEOUT_SECONDS", default=10.0),
    # 5xx, 408, 429, timeouts and refused connections are retried: 30 s, 60 s, 120 s ... up to an hour apart,
    # for a day; then the delivery is failed (admin list; replayable).
    "BACKOFF_BASE_SECONDS": env.int("WEBHOOKS_BACKOFF_BASE_SECONDS", default=30),
    "BACKOFF_MAX_SECONDS": env.int("WEBHOOKS_BACKOFF_MAX_SECONDS", default=3600),
    "RETRY_WINDOW_SECONDS": env.int("WEBHOOKS_RETRY_WINDOW_SECONDS", default=86400),
}
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {"task": "webhooks.sweep", "schedule": WEBHOOKS["SWEEP_INTERVAL_SECONDS"]}

# --- Web pages (web/) -----------------------------------------------------------------------------
# Coordinator and physician pages: Django's auth views at /login/ and /logout/, htmx for partial updates.
INSTALLED_APPS += ["django_htmx"]
MIDDLEWARE += ["django_htmx.middleware.HtmxMiddleware"]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
# A session ends after this many idle minutes: the cookie's age restarts on every request.
WEB_SESSION_IDLE_MINUTES = env.int("WEB_SESSION_IDLE_MINUTES", default=15)
SESSION_COOKIE_AGE = WEB_SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
# Cards shown per board column before "show more", and rows per worklist section.
WEB_BOARD_CARDS_PER_COLUMN = env.int("WEB_BOARD_CARDS_PER_COLUMN", default=25)
WEB_LIST_LIMIT = env.int("WEB_LIST_LIMIT", default=50)
# The schedule's empty slots (web/schedule_views.py): the clinic's opening hours and days, in each clinic's own
# time zone, cut into slots of this many minutes. Appointments outside them are still shown, never bookable slots.
WEB_SCHEDULE_OPENS = env.str("WEB_SCHEDULE_OPENS", default="08:00")
WEB_SCHEDULE_CLOSES = env.str("WEB_SCHEDULE_CLOSES", default="17:00")
WEB_SCHEDULE_SLOT_MINUTES = env.int("WEB_SCHEDULE_SLOT_MINUTES", default=30)
WEB_SCHEDULE_DAYS = env.list("WEB_SCHEDULE_DAYS", default=["mon", "tue", "wed", "thu", "fri"])

# --- Sign-in: lockout and multi-factor (web/signin.py, web/auth_views.py) -----------------------------
# django-axes counts failed sign-ins in the database, per username and per address separately: either
# reaching the limit locks (a guessed password list from one address, or one account tried from many).
INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "django_otp.middleware.OTPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1, "web.signin.VerifiedSessionMiddleware")
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as django-axes asks: it turns a lockout into the page
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("AUTH_LOCKOUT_FAILURES", default=5)
# A lock lifts by itself after this long (or earlier, when the clinic administrator unlocks the user).
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AUTH_LOCKOUT_MINUTES", default=30))
# Tries while locked do not extend the lock, and a success does not wipe the address's count (it would
# let anyone holding one account reset the count of the address they guess from).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "web.signin.lockout_response"
AXES_CLIENT_STR_CALLABLE = "web.signin.client_str"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken", "code"]
AXES_ENABLE_ADMIN = False  # web/admin.py lists attempts scoped to the administrator's clinics instead
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not kept a second time
# Behind N trusted reverse proxies the client's address is the Nth from the right in X-Forwarded-For;
# 0 reads REMOTE_ADDR only (a client could otherwise pick its own address and dodge the per-address count).
AUTH_TRUSTED_PROXY_COUNT = env.int("AUTH_TRUSTED_PROXY_COUNT", default=0)
if AUTH_TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = AUTH_TRUSTED_PROXY_COUNT
    AXES_IPWARE_PROXY_ORDER = "right-most"
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
# Coordinators, physicians, clinic administrators and superusers confirm sign-in with a one-time code
# (TOTP app, or one of ten recovery codes). Off here so the demo signs in with a password; on in production.
AUTH_MFA_REQUIRED = env.bool("AUTH_MFA_REQUIRED", default=False)
# Minutes between a correct password and the code (or enrolment) before the password must be given again.
AUTH_MFA_STEP_MINUTES = 5
AUTH_MFA_RECOVERY_CODES = 10
OTP_TOTP_ISSUER = "DRG pathway"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Calendar feeds (calendars/): an event's UID is "<appointment external id>@CALENDARS_UID_DOMAIN" (a domain the
# clinic controls, so UIDs never collide with another system's); a feed holds the last PAST_DAYS and next
# FUTURE_DAYS days.
CALENDARS = {
    "UID_DOMAIN": env("CALENDARS_UID_DOMAIN", default="drg-pathway.invalid"),
    "PAST_DAYS": env.int("CALENDARS_PAST_DAYS", default=30),
    "FUTURE_DAYS": env.int("CALENDARS_FUTURE_DAYS", default=90),
}

# Every record passes the redaction filter on its way out: query strings (searches by name, MRN, birth date;
# the admin's ?q=) and the diary link's token never reach a log line (config/log_redaction.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "config.log_redaction.RedactFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Django's loggers write through the redacting handler only: Django's defaults would also print them through
    # handlers of their own (runserver's request lines with their query strings) and e-mail errors to ADMINS
    # with the whole request in the body.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
