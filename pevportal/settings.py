"""PEV Portal settings: one module, driven by environment variables (see .env.example).

With nothing set the portal runs embedded: SQLite, the in-memory channel layer and eager Celery.
DATABASE_URL switches to PostgreSQL (psycopg 3); REDIS_URL switches the cache, the channel layer and
Celery to Redis. PEVPORTAL_ENV=production turns on the hardened settings that `check --deploy` wants.
"""

import ipaddress
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy

from pevportal.env import env_bool, env_int, env_list, env_str
from pevportal.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_str("PEVPORTAL_ENV", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(f"PEVPORTAL_ENV must be development or production, got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PEVPORTAL_ENV=production")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PEVPORTAL_ENV=production")
    # Development only: a fixed, obviously insecure key so sessions survive restarts.
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PEVPORTAL_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "channels",
    "oauth2_provider",
    "pevportal",
    "billing",
    "enrollment",
    "binding",
    "metering",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

if PRODUCTION:
    # Static files are served by the app itself behind the load balancer; development uses runserver's.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "pevportal.urls"
WSGI_APPLICATION = "pevportal.wsgi.application"
ASGI_APPLICATION = "pevportal.asgi.application"

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
                "django.template.context_processors.i18n",
                "pevportal.context_processors.portal",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections do not suit ASGI (each request may run on another thread); psycopg's pool does.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 1, "max_size": env_int("DATABASE_POOL_SIZE", 10), "timeout": 10},
        "connect_timeout": 5,
        # Lets pevportal/prepared.py prepare the device API's hot-path statements (the ORM's cursors bind
        # client-side and never prepare). Off behind a pooler that cannot keep them (docs/operations.md).
        "prepare_threshold": 5 if env_bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
    }
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (the embedded default is SQLite)")
else:
    SQLITE_PATH = Path(env_str("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")))
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # A short busy timeout instead of "database is locked" when the dev server and a command overlap.
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery ----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis outage must cost a request seconds, not hang it.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: a group send is one PUBLISH, half the CPU of the list-and-sorted-set layer's
            # (measured), which every device request that changes a panel pays. Live panels need no more than
            # fire and forget: a socket that misses one gets the next report, and a page load reads them all.
            # channels_redis's, plus a blocking group send for sync code: a device request publishes on its
            # own thread (pevportal/channel_layers.py).
            "BACKEND": "pevportal.channel_layers.PubSubChannelLayer",
            # Reads time out well above the subscriber's 0.1 s polls (redis-py 8's default, 5 s, also cut the
            # other layer's 5 s blocking receives: sockets went deaf). A request's PUBLISH waits at most 2 s.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 10}], "publish_timeout": 2.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# Long jobs acknowledge only after they finish, so a worker that dies mid-task has it redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing to a broker that is down gives up at once instead of retrying for seconds inside a request:
# the work it would have nudged waits in the database and a beat sweep drains it (docs/metering.md).
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0}
# Workers log through Django's LOGGING (structlog, UTC) like the web process.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "pevportal.tasks.heartbeat", "schedule": crontab(minute="*")},
    "apply-plan-switches": {"task": "enrollment.tasks.apply_plan_switches", "schedule": crontab(minute=5)},
    "sweep-bindings": {"task": "binding.tasks.sweep_bindings", "schedule": 30.0},
    "announce-parameter-changes": {
        "task": "binding.tasks.announce_parameter_changes",
        "schedule": crontab(minute=10),
    },
    "announce-critical-peaks": {
        "task": "binding.tasks.announce_critical_peaks",
        "schedule": crontab(minute=15),
    },
    "prune-device-replay-state": {
        "task": "binding.tasks.prune_device_replay_state",
        "schedule": crontab(minute="*/5"),
    },
    "create-read-partitions": {
        "task": "metering.tasks.create_read_partitions",
        "schedule": crontab(minute=20, hour="*/6"),
    },
    "correlate-due-sessions": {"task": "metering.tasks.correlate_due_sessions", "schedule": 60.0},
    "extend-holiday-calendars": {
        "task": "billing.tasks.extend_holiday_calendars",
        "schedule": crontab(minute=0, hour=3, day_of_month=1),
    },
    # 11:30 UTC on the 1st, when the month just ended is over in every US time zone (03:30 or 04:30 in
    # California); at 03:30 UTC it would still be the last evening of the month there.
    "open-monthly-billing-run": {
        "task": "billing.tasks.open_monthly_billing_run",
        "schedule": crontab(minute=30, hour=11, day_of_month=1),
    },
    # Customer notifications (docs/notifications.md): emails a broker or mail-server outage held back, and
    # critical-peak events (hourly: an event called during the day is announced within the hour).
    "send-notification-emails": {"task": "pevportal.tasks.send_notification_emails", "schedule": 300.0},
    "notify-critical-peaks": {"task": "billing.tasks.notify_critical_peaks", "schedule": crontab(minute=25)},
}

# --- Auth -----------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "PEV Portal"

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=PRODUCTION)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PEV Portal <no-reply@pevportal.invalid>")

# --- I18N / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# Every language listed here must ship a complete catalogue (locale/<code>/, checked by
# tests/pevportal/test_i18n.py): a listed language without one would label English pages lang="es".
# Names are in their own language, as the switcher shows them. See docs/i18n.md.
LANGUAGES = [("en", "English"), ("es", "Español")]
# US Spanish keeps the decimal point in amounts ($0.59, not $0,59): pevportal/formats/es/formats.py.
FORMAT_MODULE_PATH = ["pevportal.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- REST framework / OpenAPI ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PEV Portal API",
    "DESCRIPTION": "Public programme data, device endpoints and customer read-only API of PEV Portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # TLS ends at the load balancer, which sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The load balancer probes /healthz over plain HTTP inside the network; a redirect would fail it.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# --- Logging --------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "console")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, got {LOG_FORMAT!r}")
LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Portal ---------------------------------------------------------------------------------------
# The portal's public address, for links in emails (which have no request to build them from).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
PORTAL_UTILITY_NAME = env_str("PORTAL_UTILITY_NAME", "Southern California Edison (demo)")
PORTAL_PHONE = env_str("PORTAL_PHONE", "1-800-555-0150")

# --- Device API (binding/; docs/device-api.md) -----------------------------------------------------
# The device CA's key and certificate live here, outside the repository and never in the database.
DEVICE_CA_DIR = Path(env_str("DEVICE_CA_DIR", "" if PRODUCTION else str(BASE_DIR / "var" / "device-ca")))
if PRODUCTION and not env_str("DEVICE_CA_DIR"):
    raise ImproperlyConfigured("DEVICE_CA_DIR must be set when PEVPORTAL_ENV=production")
# The utility's ES256 key that signs parameters, confirmations and messages for devices (JWS); its public
# half is published at /.well-known/jwks.json. Created on first use in development only.
UTILITY_SIGNING_KEY = Path(env_str("UTILITY_SIGNING_KEY", str(DEVICE_CA_DIR / "utility-signing-key.pem")))
# RFC 9421: how far a signature's `created` may be from the server clock; nonces are kept this long.
DEVICE_SIGNATURE_WINDOW_SECONDS = env_int("DEVICE_SIGNATURE_WINDOW_SECONDS", 300)
# Largest device request body, checked before anything is parsed or verified (413).
DEVICE_MAX_BODY_BYTES = env_int("DEVICE_MAX_BODY_BYTES", 64 * 1024)
# Per-device request rate (DRF throttle syntax); beyond it the API answers 429 with Retry-After.
DEVICE_RATE_LIMIT = env_str("DEVICE_RATE_LIMIT", "120/min")
# Reverse proxies allowed to forward a verified TLS client certificate (docs/device-proxy.md).
DEVICE_TRUSTED_PROXIES = env_list("DEVICE_TRUSTED_PROXIES")
for _proxy in DEVICE_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"DEVICE_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
        ) from None
DEVICE_CLIENT_CERT_HEADER = env_str("DEVICE_CLIENT_CERT_HEADER", "X-SSL-Client-Cert")
# A binding that the ESCI never ends is closed after this long.
BINDING_MAX_DURATION_HOURS = env_int("BINDING_MAX_DURATION_HOURS", 24)

# --- Metering (metering/; docs/metering.md) ---------------------------------------------------------
# A readings batch holds at most this many reads, and its body at most this many bytes (413 beyond).
METERING_MAX_BATCH_READS = env_int("METERING_MAX_BATCH_READS", 10_000)
METERING_MAX_BATCH_BYTES = env_int("METERING_MAX_BATCH_BYTES", 4 * 1024 * 1024)
# A batch signed this far from the server clock flags its reads `clock_drift` (NF.1: devices keep UTC to 1 s).
METERING_CLOCK_DRIFT_SECONDS = env_int("METERING_CLOCK_DRIFT_SECONDS", 5)
# Reads older than this are refused (a device whose clock reset must not create years of partitions).
METERING_MAX_READ_AGE_DAYS = env_int("METERING_MAX_READ_AGE_DAYS", 400)
# Daily partitions of the read tables are created this many days ahead (metering/partitions.py).
METERING_PARTITIONS_AHEAD_DAYS = env_int("METERING_PARTITIONS_AHEAD_DAYS", 7)
# Load correlation (Req 15): PEV energy may exceed the premise meter's in an interval by this much before
# the interval counts against the session (meter accuracy classes differ), and a plug-in or unplug must
# change the premise load by at least this share of the PEV's own energy to count as a visible step.
METERING_CORRELATION_TOLERANCE_WH = env_int("METERING_CORRELATION_TOLERANCE_WH", 10)
METERING_CORRELATION_TOLERANCE_PERCENT = env_int("METERING_CORRELATION_TOLERANCE_PERCENT", 2)
METERING_CORRELATION_STEP_PERCENT = env_int("METERING_CORRELATION_STEP_PERCENT", 50)
# The readings body is larger than other device requests; Django must let it through to the view's check.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(METERING_MAX_BATCH_BYTES, DEVICE_MAX_BODY_BYTES)

# --- Billing (billing/; docs/billing.md) ------------------------------------------------------------
# A billing run bills its premises in chunks of this many, one Celery task (and one transaction) each.
BILLING_CHUNK_PREMISES = env_int("BILLING_CHUNK_PREMISES", 500)
if BILLING_CHUNK_PREMISES < 1:
    raise ImproperlyConfigured(f"BILLING_CHUNK_PREMISES must be at least 1, got {BILLING_CHUNK_PREMISES}")

# --- Displays and energy managers: OAuth2 device grant, RFC 8628 (pevportal/displays/; docs/displays.md) --
# Displays are public clients (no secret) registered with `register_display_client`; the customer approves
# them at /device and they read through /api/v1/ with read-only scopes. Only the device-code grant is used:
# no implicit, password or plaintext-redirect flows, and tokens are stored hashed (RFC 9700).
OAUTH_ACCESS_TOKEN_SECONDS = env_int("OAUTH_ACCESS_TOKEN_SECONDS", 15 * 60)
# A display that has not renewed its access for this long must be approved again.
OAUTH_REFRESH_TOKEN_DAYS = env_int("OAUTH_REFRESH_TOKEN_DAYS", 90)
if OAUTH_ACCESS_TOKEN_SECONDS < 60 or OAUTH_REFRESH_TOKEN_DAYS < 1:
    raise ImproperlyConfigured("OAUTH_ACCESS_TOKEN_SECONDS must be >= 60 and OAUTH_REFRESH_TOKEN_DAYS >= 1")
OAUTH2_PROVIDER = {
    "SCOPES": {
        "live:read": gettext_lazy("See your vehicle's charging status as it happens"),
        "usage:read": gettext_lazy("Read your daily electricity use, for your home and your vehicle"),
        "bills:read": gettext_lazy("Read your bills"),
    },
    # A display that asks for no scope gets the live status only, never more.
    "DEFAULT_SCOPES": ["live:read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_DAYS * 24 * 3600,
    # Each refresh hands out a new refresh token; replaying an old one revokes the display's whole family.
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "DEVICE_FLOW_INTERVAL": 5,
    "OAUTH_DEVICE_VERIFICATION_URI": f"{SITE_URL}/device",
    "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": lambda user_code: f"{SITE_URL}/device?user_code={user_code}",
    # The validator sets the token's user and scopes from the approved grant (pevportal/displays/grant.py).
    "OAUTH2_VALIDATOR_CLASS": "pevportal.displays.grant.DisplayOAuth2Validator",
    "OAUTH_PRE_TOKEN_VALIDATION": [],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
