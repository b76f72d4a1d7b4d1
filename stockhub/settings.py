"""StockHub's one settings module: every difference between machines is an environment variable.

Unset, everything runs on one fresh machine (a SQLite file and an embedded Redis under var/); with
DATABASE_URL / CELERY_BROKER_URL / REDIS_URL set, the real servers are used. See .env.example.
"""

from __future__ import annotations

import ipaddress

import environ

from stockhub.config import (
    BASE_DIR,
    VAR_DIR,
    ConfigError,
    check_broker_url,
    check_database_url,
    check_provider,
    check_redis_url,
    embedded_broker_url,
    embedded_redis_url,
    is_redis_broker,
)
from stockhub.queues import PRIORITY_WEIGHTS, TASK_QUEUES, TASK_ROUTES, Queue, broker_priority

env = environ.Env()
VAR_DIR.mkdir(exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and env.bool("STOCKHUB_REQUIRE_SECRET_KEY", default=False):
        raise ConfigError("SECRET_KEY is not set; production needs a long random value in SECRET_KEY")
    # Demo and test machines only; production sets STOCKHUB_REQUIRE_SECRET_KEY=1 so this never applies there.
    SECRET_KEY = "stockhub-insecure-demo-key-change-me-in-production-0123456789"
# --- HTTPS (production: STOCKHUB_HTTPS=1): redirect to https, secure cookies, HSTS; `check --deploy` clean. ---
STOCKHUB_HTTPS = env.bool("STOCKHUB_HTTPS", default=False)
SECURE_SSL_REDIRECT = STOCKHUB_HTTPS
SESSION_COOKIE_SECURE = STOCKHUB_HTTPS
CSRF_COOKIE_SECURE = STOCKHUB_HTTPS
# A year, subdomains and preload by default under HTTPS, as `check --deploy` asks; 0 seconds turns HSTS off.
SECURE_HSTS_SECONDS = env.int("STOCKHUB_HSTS_SECONDS", default=31_536_000 if STOCKHUB_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("STOCKHUB_HSTS_INCLUDE_SUBDOMAINS", default=STOCKHUB_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("STOCKHUB_HSTS_PRELOAD", default=STOCKHUB_HTTPS)
# Probes and metric scrapers talk to the app directly, over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Behind a proxy that terminates TLS; only when the proxy always sets (overwrites) X-Forwarded-Proto.
if env.bool("STOCKHUB_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's JS/CSS, served from our static files (no CDN)
    "ingest",
    "portfolios",
    "analysis",
    "notifications",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "stockhub.urls"
WSGI_APPLICATION = "stockhub.wsgi.application"
ASGI_APPLICATION = "stockhub.asgi.application"

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
            ]
        },
    }
]

# --- Database: PostgreSQL in production and CI; a SQLite file when DATABASE_URL is unset. ---
DATABASE_URL = check_database_url(env("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'stockhub.sqlite3'}"))
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several worker processes share the file: wait for the write lock rather than fail at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so worker processes started by the tests see the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_stockhub.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE_SECONDS", default=60))
    # A kept connection is checked before the first query of each request or task, so one cut by a database
    # restart is replaced instead of failing that request or task; our backend checks without a round trip
    # (stockhub/postgresql/base.py).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "stockhub.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_SECONDS", default=5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The pages' own login (web/): it sends user_logged_in like admin's, so logging in refreshes stale holdings.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Store UTC; market logic converts to the exchange's zone (STOCKHUB_MARKET_TIME_ZONE).
USE_TZ = True
TIME_ZONE = env("TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True

# --- JSON API: session login (the dashboard, with CSRF) or a token (scripts: `manage.py create_token USER`);
# documented at /api/docs/ (schema: /api/schema/) and in docs/api.md. ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "stockhub.authentication.TokenAuthentication",  # DRF's, with its one query written out
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only: one format to validate, and a form post cannot smuggle extra fields (415 instead)
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "stockhub.api.exception_handler",
    # Counted in the shared cache (CACHES below); rates are read from the two settings at request time.
    "DEFAULT_THROTTLE_CLASSES": ["stockhub.throttles.UserThrottle", "stockhub.throttles.AnonThrottle"],
}
# Requests per user (session or token) and per anonymous address: N/second, N/min, N/hour or N/day.
STOCKHUB_API_THROTTLE_USER = env("STOCKHUB_API_THROTTLE_USER", default="600/min")
STOCKHUB_API_THROTTLE_ANON = env("STOCKHUB_API_THROTTLE_ANON", default="60/min")
# Failed logins allowed per username and address in one window before the login page answers 429.
STOCKHUB_LOGIN_MAX_FAILURES = env.int("STOCKHUB_LOGIN_MAX_FAILURES", default=5)
STOCKHUB_LOGIN_WINDOW_SECONDS = env.int("STOCKHUB_LOGIN_WINDOW_SECONDS", default=900)
SPECTACULAR_SETTINGS = {
    "TITLE": "StockHub API",
    "DESCRIPTION": "Market data kept fresh by prioritised queues: portfolios, tickers, bars, jobs, queues, "
    "indicators, patterns. Errors are {code, message}; see docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Jobs' and patterns' `kind` fields have different choice sets; without a name for one, spectacular
    # warns (and `check --deploy` fails) once a third serializer has a `kind`.
    "ENUM_NAME_OVERRIDES": {"JobKindEnum": "ingest.models.JobKind", "PhaseEnum": "ingest.models.Phase"},
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Celery: Redis (embedded when unset) or RabbitMQ broker; queues and routes live in stockhub/queues.py. ---
CELERY_BROKER_URL = check_broker_url(
    "CELERY_BROKER_URL", env("CELERY_BROKER_URL", default=embedded_broker_url())
)
REDIS_URL = check_redis_url(env("REDIS_URL", default=embedded_redis_url()))
# Django's cache is Redis too, so API throttles and login limits are shared by every web process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "stockhub",
        # A Redis that does not answer must not hold a request: throttles fail open after this (seconds).
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_QUEUES = TASK_QUEUES
CELERY_TASK_ROUTES = TASK_ROUTES
CELERY_TASK_DEFAULT_QUEUE = str(Queue.BACKGROUND)
# Publishing tries the broker once: when it is down the job row waits for the reconciler instead of a web
# request hanging ~6 s in reconnect attempts. Workers reconnect on their own terms
# (CELERY_BROKER_CONNECTION_MAX_RETRIES), which these options do not touch. Any transport honours them.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0}
if is_redis_broker(CELERY_BROKER_URL):
    # Redis only: ten priority levels, served in priority order; a message without one would jump the queue.
    # RabbitMQ needs none of this: its queues declare x-max-priority (stockhub/queues.py) and deliver
    # unacknowledged messages again when a consumer's connection drops.
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
        # a job unacknowledged this long is redelivered; longer than any single job may run
        "visibility_timeout": env.int("STOCKHUB_VISIBILITY_TIMEOUT_SECONDS", default=3600),
    }
# A safety net on the broker's scale (every publish sets its own): our background default, 5.
CELERY_TASK_DEFAULT_PRIORITY = broker_priority(5, broker_url=CELERY_BROKER_URL)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower
# No task-sent events: each would be a second broker publish per job sent (a login sends 20); Flower still
# sees every task from the workers' received/started/succeeded events, and queued jobs are in the database.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Market data ---
STOCKHUB_PROVIDER = check_provider(env("STOCKHUB_PROVIDER", default="synthetic"))
STOCKHUB_CSV_PATH = env("STOCKHUB_CSV_PATH", default=str(BASE_DIR.parent / "shared" / "data" / "daily"))
# Naive intraday timestamps in CSV files are read in this zone (daily dates are session dates).
STOCKHUB_CSV_TIME_ZONE = env("STOCKHUB_CSV_TIME_ZONE", default="America/New_York")
MASSIVE_API_KEY = env("MASSIVE_API_KEY", default="")
MASSIVE_BASE_URL = env("MASSIVE_BASE_URL", default="https://api.massive.com")
# Requests a minute each provider may get from all workers together (ingest/ratelimit.py); a provider not
# listed, or 0, is unlimited. Massive's free plan allows 5; Yahoo publishes no limit.
STOCKHUB_RATE_LIMITS_PER_MINUTE = {
    name: float(value)
    for name, value in env.dict(
        "STOCKHUB_RATE_LIMITS_PER_MINUTE", default={"massive": 5, "yfinance": 60}
    ).items()
}
# Requests a provider may get at once after a quiet spell (default 1: evenly spaced, so a per-minute window
# on the provider's side never sees more than the limit).
STOCKHUB_RATE_LIMIT_BURSTS = {
    name: int(value) for name, value in env.dict("STOCKHUB_RATE_LIMIT_BURSTS", default={}).items()
}
# A fetch sleeps up to this long for its request slot; a longer wait queues the job again (no attempt used).
STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS = env.float("STOCKHUB_RATE_LIMIT_MAX_WAIT_SECONDS", default=5.0)
STOCKHUB_PROVIDER_TIMEOUT_SECONDS = env.float("STOCKHUB_PROVIDER_TIMEOUT_SECONDS", default=10.0)
# Fault injection for chaos tests (ingest/providers/faults.py), e.g. "timeout=AAA;bad_rows=BBB;fail_rate=0.2".
STOCKHUB_PROVIDER_FAULTS = env("STOCKHUB_PROVIDER_FAULTS", default="")
STOCKHUB_SYNTHETIC_LATENCY_MS = env.int("STOCKHUB_SYNTHETIC_LATENCY_MS", default=0)
STOCKHUB_MARKET_CALENDAR = env("STOCKHUB_MARKET_CALENDAR", default="XNYS")
STOCKHUB_MARKET_TIME_ZONE = env("STOCKHUB_MARKET_TIME_ZONE", default="America/New_York")
STOCKHUB_STALENESS_MINUTES = env.int("STOCKHUB_STALENESS_MINUTES", default=30)
# Timeframes a login refreshes for each held ticker (weekly/monthly are derived from daily).
STOCKHUB_LOGIN_TIMEFRAMES = env.list("STOCKHUB_LOGIN_TIMEFRAMES", default=["daily"])
# --- Jobs (see stockhub/queues.py and ingest/services/jobs.py) ---
# e.g. "activity=0.4,value=0.3,age=0.2,volatility=0.1"
STOCKHUB_PRIORITY_WEIGHTS = {
    **PRIORITY_WEIGHTS,
    **{k: float(v) for k, v in env.dict("STOCKHUB_PRIORITY_WEIGHTS", default={}).items()},
}
# The factors behind those priorities (ingest/services/urgency.py, docs/queues.md): how often beat recomputes
# them (the default entry is made once; edit it in admin afterwards), a holder's login this many days ago
# counts 0, a newest daily bar this many days old counts 1, and this annualised volatility (0.8 = 80 %) counts 1.
STOCKHUB_PRIORITY_REFRESH_MINUTES = env.int("STOCKHUB_PRIORITY_REFRESH_MINUTES", default=10)
STOCKHUB_PRIORITY_ACTIVITY_DAYS = env.float("STOCKHUB_PRIORITY_ACTIVITY_DAYS", default=30.0)
STOCKHUB_PRIORITY_AGE_DAYS = env.float("STOCKHUB_PRIORITY_AGE_DAYS", default=5.0)
STOCKHUB_PRIORITY_VOLATILITY_CAP = env.float("STOCKHUB_PRIORITY_VOLATILITY_CAP", default=0.8)
STOCKHUB_FOREGROUND_JOBS_PER_USER = env.int("STOCKHUB_FOREGROUND_JOBS_PER_USER", default=3)
# Background and analysis claims wait while foreground work is active (ingest/services/foreground_first.py).
STOCKHUB_FOREGROUND_FIRST = env.bool("STOCKHUB_FOREGROUND_FIRST", default=True)
STOCKHUB_FOREGROUND_ACTIVE_MS = env.int("STOCKHUB_FOREGROUND_ACTIVE_MS", default=300)
STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS = env.float(
    "STOCKHUB_FOREGROUND_FIRST_MAX_WAIT_SECONDS", default=2.0
)
STOCKHUB_JOB_MAX_ATTEMPTS = env.int("STOCKHUB_JOB_MAX_ATTEMPTS", default=5)
STOCKHUB_RETRY_BASE_SECONDS = env.float("STOCKHUB_RETRY_BASE_SECONDS", default=2.0)
STOCKHUB_RETRY_MAX_SECONDS = env.float("STOCKHUB_RETRY_MAX_SECONDS", default=300.0)
# Longer than JobTask.time_limit (300 s), so a live job's lease never runs out under it.
STOCKHUB_JOB_LEASE_SECONDS = env.int("STOCKHUB_JOB_LEASE_SECONDS", default=360)
# A queued job whose message was sent this long ago and has not started is sent again by the reconciler.
# With the broker down, a person's request for at most this many jobs runs in the web process (time-boxed).
STOCKHUB_DIRECT_FETCH_MAX_JOBS = env.int("STOCKHUB_DIRECT_FETCH_MAX_JOBS", default=3)
STOCKHUB_DIRECT_FETCH_SECONDS = env.float("STOCKHUB_DIRECT_FETCH_SECONDS", default=10.0)
STOCKHUB_REPUBLISH_AFTER_SECONDS = env.int("STOCKHUB_REPUBLISH_AFTER_SECONDS", default=120)
# An incremental fetch starts this many days before the newest stored bar, to pick up corrections.
# The universe the daily pipeline runs over unless its schedule entry names another.
STOCKHUB_PIPELINE_UNIVERSE = env("STOCKHUB_PIPELINE_UNIVERSE", default="sp500")
# At most one progress event per run per this many seconds (phase and run ends always go out).
STOCKHUB_PROGRESS_EVENT_SECONDS = env.float("STOCKHUB_PROGRESS_EVENT_SECONDS", default=0.5)
STOCKHUB_FETCH_OVERLAP_DAYS = env.int("STOCKHUB_FETCH_OVERLAP_DAYS", default=3)
STOCKHUB_LOOKBACK_DAYS = {
    "hourly": env.int("STOCKHUB_LOOKBACK_DAYS_HOURLY", default=90),
    "daily": env.int("STOCKHUB_LOOKBACK_DAYS_DAILY", default=365),
    "weekly": env.int("STOCKHUB_LOOKBACK_DAYS_WEEKLY", default=730),
    "monthly": env.int("STOCKHUB_LOOKBACK_DAYS_MONTHLY", default=1825),
}

# Queue monitor alert thresholds (queue_stats, /api/queues/stats).
STOCKHUB_ALERT_QUEUE_DEPTH = env.int("STOCKHUB_ALERT_QUEUE_DEPTH", default=1000)
STOCKHUB_ALERT_OLDEST_WAIT_MINUTES = env.float("STOCKHUB_ALERT_OLDEST_WAIT_MINUTES", default=10.0)
STOCKHUB_ALERT_STALENESS_HOURS = env.float("STOCKHUB_ALERT_STALENESS_HOURS", default=2.0)
STOCKHUB_ALERT_MIN_EFFICIENCY_PERCENT = env.float("STOCKHUB_ALERT_MIN_EFFICIENCY_PERCENT", default=70.0)

# --- Webhooks (notifications/, docs/webhooks.md) ---
# Seconds to connect, and again to read the answer, for one delivery attempt.
STOCKHUB_WEBHOOK_TIMEOUT_SECONDS = env.float("STOCKHUB_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Delays before each retry after a 5xx, 429 or no answer; 9 retries over about 24 hours by default.
STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS = [
    int(seconds)
    for seconds in env.list(
        "STOCKHUB_WEBHOOK_RETRY_SCHEDULE_SECONDS",
        default=["30", "120", "600", "1800", "3600", "7200", "14400", "28800", "28800"],
    )
]
# A hook whose deliveries fail this many times in a row is disabled, with the reason shown in admin.
STOCKHUB_WEBHOOK_DISABLE_AFTER_FAILURES = env.int("STOCKHUB_WEBHOOK_DISABLE_AFTER_FAILURES", default=5)
# Networks webhooks may call although not public (CIDRs, e.g. "127.0.0.1/32"); empty: public addresses only.
STOCKHUB_WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(network, strict=False))  # a typo stops start-up instead of failing each delivery
    for network in env.list("STOCKHUB_WEBHOOK_ALLOWED_NETWORKS", default=[])
]

# Database connections a bulk import writes on at once (PostgreSQL only; one per core is the sweet spot).
STOCKHUB_IMPORT_WORKERS = env.int("STOCKHUB_IMPORT_WORKERS", default=2)

# --- Health, readiness and metrics (stockhub/health.py, ingest/metrics.py; docs/operations.md) ---
# /readyz fails when beat has not sent the every-minute reconcile task for this long.
STOCKHUB_BEAT_HEARTBEAT_MAX_AGE_SECONDS = env.int("STOCKHUB_BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=180)
# How long /readyz waits for the workers to say which queues they consume.
STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS = env.float("STOCKHUB_READYZ_WORKER_TIMEOUT_SECONDS", default=1.0)
# Set: /metrics wants "Authorization: Bearer <token>". Unset: /metrics is open (internal network only).
STOCKHUB_METRICS_TOKEN = env("STOCKHUB_METRICS_TOKEN", default="")
# --- Web process (stockhub/asgi.py) ---
# Threads serving the synchronous views of one web process; each keeps one database connection, so this is
# also how many connections a web process holds at most (plus one per event stream while it starts).
STOCKHUB_WEB_THREADS = env.int("STOCKHUB_WEB_THREADS", default=8)
# Memory one process may use to keep rendered bars and indicators answers (stockhub/answer_cache.py); 0 keeps
# none. A year of daily bars is ~25 KB, of all indicators ~150 KB: 128 MB holds both for ~750 tickers.
STOCKHUB_API_CACHE_MB = env.int("STOCKHUB_API_CACHE_MB", default=128)
# --- Pages (web/) ---
# The event stream sends a comment this often, so a proxy or browser never closes a quiet stream as dead.
STOCKHUB_SSE_HEARTBEAT_SECONDS = env.float("STOCKHUB_SSE_HEARTBEAT_SECONDS", default=15.0)
# Where the queues page links to Flower (started by `make up` on port 5555).
STOCKHUB_FLOWER_URL = env("STOCKHUB_FLOWER_URL", default="http://127.0.0.1:5555/")
# Beat writes each entry's last_run_at after every task it sends (default: every 3 minutes), so the reconcile
# entry's last_run_at is a heartbeat to the minute; one UPDATE a minute.
CELERY_BEAT_SYNC_EVERY = 1

# text: "time level logger message"; json: one object per line with the job, run, symbol, queue and task.
STOCKHUB_LOG_FORMAT = env("STOCKHUB_LOG_FORMAT", default="text")
if STOCKHUB_LOG_FORMAT not in ("text", "json"):
    raise ConfigError(f"STOCKHUB_LOG_FORMAT={STOCKHUB_LOG_FORMAT!r} is unknown; use text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "stockhub.logcontext.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "stockhub.logcontext.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": STOCKHUB_LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
# Celery workers keep this LOGGING (so STOCKHUB_LOG_FORMAT applies to them too) instead of replacing the root
# logger's handlers with their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection before and after every task unless this is set, then
# once per this many tasks: never, in effect. ingest.warmup.close_old_database_connections applies
# CONN_MAX_AGE and the health check around each task instead.
CELERY_DB_REUSE_MAX = 1_000_000_000
