"""Settings read from the environment through small typed helpers.

Every number the SPEC calls a default lives here, so an operator can change it
without touching code.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Moderation flags per source: days until due (people's disputes 3, members'
# challenges and proposals 7, the rest 14), and priority (lower is first).
FLAG_DUE_DAYS = {"subject": 3, "member": 7, "customer": 14, "entry": 14, "sweep": 14}
FLAG_PRIORITY = {"subject": 0, "member": 10, "customer": 20, "entry": 30, "sweep": 40}
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    return env_int_value(name, raw)


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def env_int_map(
    name: str, default: dict[str, int], *, any_keys: bool = False
) -> dict[str, int]:
    """``name=3,other=7`` from the environment over ``default``; the keys
    allowed are those of ``default``, or any with ``any_keys`` (the caller
    checks them)."""
    raw = env_str(name)
    if raw is None:
        return dict(default)
    allowed = tuple(default)
    values = dict(default)
    for item in raw.split(","):
        key, sep, number = item.partition("=")
        if not sep or not (any_keys or key.strip() in allowed):
            raise ValueError(
                f"{name} must be key=number pairs with keys from "
                f"{', '.join(allowed)}, got {raw!r}"
            )
        values[key.strip()] = env_int_value(name, number.strip())
    return values


def env_int_value(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def instance_path() -> Path:
    return Path(env_str("TESSERA_INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH)))


def persistent_secret_key(folder: Path, name: str = "secret_key") -> str:
    """Return the secret key kept under ``folder``, generating it once.

    The key never lives in code: a fresh install gets a random one that survives
    restarts (so sessions stay valid) and is readable by its owner only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / name
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def sqlite_url(folder: Path, name: str = "tessera.db") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / name}"


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration mapping from the environment plus ``overrides``."""
    folder = Path((overrides or {}).get("INSTANCE_PATH") or instance_path())
    settings: dict[str, Any] = {
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": env_str("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": env_str("DATABASE_URL"),
        # None means: the embedded Redis server under instance/, started (or
        # joined) by the first connection; create_app then sets REDIS_EMBEDDED.
        "REDIS_URL": env_str("REDIS_URL"),
        "REDIS_EMBEDDED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # SQLite: how long a writer waits for the write lock, asking every poll.
        "SQLITE_BUSY_TIMEOUT_MS": env_int("SQLITE_BUSY_TIMEOUT_MS", 30000),
        "SQLITE_LOCK_POLL_MS": env_int("SQLITE_LOCK_POLL_MS", 5),
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 25 * 1024 * 1024),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies whenever the portal is served over HTTPS (behind a proxy
        # that sets X-Forwarded-Proto, see PROXY_FIX) or when forced on.
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "PROXY_FIX": env_bool("PROXY_FIX", False),
        "PERMANENT_SESSION_LIFETIME": env_int("SESSION_LIFETIME_SECONDS", 14 * 86400),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "LOGIN_LIMIT_PER_ACCOUNT": env_str(
            "LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"
        ),
        "LOGIN_LIMIT_PER_IP": env_str("LOGIN_LIMIT_PER_IP", "20 per 15 minutes"),
        "REGISTER_LIMIT_PER_IP": env_str("REGISTER_LIMIT_PER_IP", "10 per hour"),
        # The live duplicate warning answers "is this person known?": limit it
        # so it cannot be used to check addresses in bulk.
        "DUPLICATE_CHECK_LIMIT": env_str("DUPLICATE_CHECK_LIMIT", "300 per hour"),
        # Against scraping: reading pages, per member (per address for visitors).
        # /companies and /companies/<id> share one count.
        "SEARCH_RATE_LIMIT": env_str(
            "SEARCH_RATE_LIMIT", "120 per minute;2000 per day"
        ),
        "COMPANY_PAGE_RATE_LIMIT": env_str(
            "COMPANY_PAGE_RATE_LIMIT", "60 per minute;1000 per day"
        ),
        "CONTACT_PAGE_RATE_LIMIT": env_str(
            "CONTACT_PAGE_RATE_LIMIT", "60 per minute;1000 per day"
        ),
        # Retry-After (and X-RateLimit-*) on limited routes.
        "RATELIMIT_HEADERS_ENABLED": True,
        # The origin of every link in an email; never the request's Host header,
        # which a client can set to anything.
        "PUBLIC_URL": env_str("PUBLIC_URL", "http://127.0.0.1:5000"),
        "EMAIL_VERIFICATION_HOURS": env_int("EMAIL_VERIFICATION_HOURS", 48),
        # How long an org admin's emailed invitation stays valid.
        "ORG_INVITATION_DAYS": env_int("ORG_INVITATION_DAYS", 7),
        "VERIFY_RESEND_LIMIT": env_str("VERIFY_RESEND_LIMIT", "3 per hour"),
        # "Forgot password": how long a reset link works, and how often one
        # address (whoever asks) and one client may ask for one.
        "PASSWORD_RESET_MINUTES": env_int("PASSWORD_RESET_MINUTES", 30),
        "PASSWORD_RESET_LIMIT_PER_ADDRESS": env_str(
            "PASSWORD_RESET_LIMIT_PER_ADDRESS", "3 per hour"
        ),
        "PASSWORD_RESET_LIMIT_PER_IP": env_str(
            "PASSWORD_RESET_LIMIT_PER_IP", "10 per hour"
        ),
        "MAIL_SERVER": env_str("MAIL_SERVER"),
        "MAIL_PORT": env_int("MAIL_PORT", 25),
        "MAIL_USERNAME": env_str("MAIL_USERNAME"),
        "MAIL_PASSWORD": env_str("MAIL_PASSWORD"),
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": env_bool("MAIL_USE_SSL", False),
        "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 10),
        "MAIL_DEFAULT_SENDER": env_str(
            "MAIL_DEFAULT_SENDER", "Tessera <no-reply@tessera.localhost>"
        ),
        "RQ_QUEUES": ["high", "default", "low"],
        "JOB_TIMEOUT_SECONDS": env_int("JOB_TIMEOUT_SECONDS", 3600),
        "JOB_RESULT_TTL_SECONDS": env_int("JOB_RESULT_TTL_SECONDS", 86400),
        "JOB_FAILURE_TTL_SECONDS": env_int("JOB_FAILURE_TTL_SECONDS", 7 * 86400),
        "JOB_RETRY_INTERVALS": [10, 60, 300],
        # SQLite only: how long a job steps aside after each committed batch so
        # that web requests waiting for the write lock get it.
        "JOB_SQLITE_YIELD_MS": env_int("JOB_SQLITE_YIELD_MS", 50),
        # Recurring jobs (kind -> cron expression, UTC) run by `portal scheduler`.
        "SCHEDULED_JOBS": {
            "vest_points": env_str("VEST_POINTS_CRON", "7 * * * *"),
            "reconcile_runs": env_str("RECONCILE_CRON", "*/5 * * * *"),
            # Daily: a run that was missed or late still grants this month's.
            "grant_allowances": env_str("GRANT_ALLOWANCES_CRON", "15 0 * * *"),
            "expire_purchased_points": env_str(
                "EXPIRE_PURCHASED_POINTS_CRON", "45 0 * * *"
            ),
            "roll_up_daily_metrics": env_str("DAILY_ROLLUP_CRON", "5 0 * * *"),
            "delete_expired_lists": env_str("LIST_RETENTION_CRON", "35 1 * * *"),
            "refresh_lists": env_str("LIST_REFRESH_CRON", "20 * * * *"),
            "send_privacy_notices": env_str("PRIVACY_NOTICES_CRON", "*/2 * * * *"),
            # Nightly, when few moderators and members are about.
            "quality_sweep": env_str("QUALITY_SWEEP_CRON", "30 2 * * *"),
        },
        # The quality sweep's thresholds (portal/moderation/sweep.py).
        "SWEEP_BURST_CONTRIBUTIONS": env_int("SWEEP_BURST_CONTRIBUTIONS", 20),
        "SWEEP_BURST_MINUTES": env_int("SWEEP_BURST_MINUTES", 10),
        "SWEEP_ROSTER_RUN_NAMES": env_int("SWEEP_ROSTER_RUN_NAMES", 12),
        "SWEEP_ROSTER_RUN_PHONES": env_int("SWEEP_ROSTER_RUN_PHONES", 5),
        "SWEEP_LOOKBACK_DAYS": env_int("SWEEP_LOOKBACK_DAYS", 2),
        "SWEEP_RATE_WINDOW_DAYS": env_int("SWEEP_RATE_WINDOW_DAYS", 45),
        "SWEEP_UPHELD_MIN_CONTRIBUTIONS": env_int("SWEEP_UPHELD_MIN_CONTRIBUTIONS", 10),
        "SWEEP_UPHELD_PERCENT": env_int("SWEEP_UPHELD_PERCENT", 30),
        "SWEEP_DOMAIN_MISMATCHES": env_int("SWEEP_DOMAIN_MISMATCHES", 5),
        # A run whose job is missing from Redis is left this long (its enqueue
        # follows its commit) before the reconciler queues it again.
        "RECONCILE_GRACE_SECONDS": env_int("RECONCILE_GRACE_SECONDS", 120),
        # `portal dev` restarts a child that died after 1 s, 2 s, 4 s... up to this.
        "DEV_RESTART_MAX_DELAY_SECONDS": env_int("DEV_RESTART_MAX_DELAY_SECONDS", 30),
        # The admin dashboard (portal/admin/metrics.py).
        "DASHBOARD_DEFAULT_DAYS": env_int("DASHBOARD_DEFAULT_DAYS", 30),
        "DASHBOARD_MAX_DAYS": env_int("DASHBOARD_MAX_DAYS", 366),
        # Longer ranges show the per-day charts by week.
        "DASHBOARD_DAILY_MAX_DAYS": env_int("DASHBOARD_DAILY_MAX_DAYS", 92),
        # "Active members": logged in within this many days.
        "ACTIVE_MEMBER_DAYS": env_int("ACTIVE_MEMBER_DAYS", 30),
        # Each roll-up recomputes this many finished days, so a void that comes
        # later (a contribution upheld as bad) reaches the figures of its day.
        "DAILY_ROLLUP_REFRESH_DAYS": env_int("DAILY_ROLLUP_REFRESH_DAYS", 30),
        # Age buckets (days) of the moderation backlog chart.
        "DASHBOARD_BACKLOG_AGE_DAYS": [1, 3, 7, 14],
        "PAGE_SIZE": env_int("PAGE_SIZE", 25),
        "SIGNUP_GRANT_POINTS": env_int("SIGNUP_GRANT_POINTS", 20),
        # The points economy (SPEC section 3).
        "CONTRIBUTION_POINTS": env_int("CONTRIBUTION_POINTS", 5),
        "UPDATE_POINTS": env_int("UPDATE_POINTS", 5),
        "PAID_UPDATE_INTERVAL_DAYS": env_int("PAID_UPDATE_INTERVAL_DAYS", 30),
        "VESTING_DAYS": env_int("VESTING_DAYS", 14),
        "CHALLENGE_REWARD_POINTS": env_int("CHALLENGE_REWARD_POINTS", 2),
        "BAD_CONTRIBUTION_PENALTY": env_int("BAD_CONTRIBUTION_PENALTY", 5),
        "REFUND_WINDOW_DAYS": env_int("REFUND_WINDOW_DAYS", 30),
        "RATING_WINDOW_DAYS": env_int("RATING_WINDOW_DAYS", 45),
        "ROOKIE_DAILY_CAP": env_int("ROOKIE_DAILY_CAP", 5),
        "PROSPECTOR_DAILY_CAP": env_int("PROSPECTOR_DAILY_CAP", 20),
        "PROSPECTOR_VESTED_CONTRIBUTIONS": env_int(
            "PROSPECTOR_VESTED_CONTRIBUTIONS", 20
        ),
        "CLOSER_DAILY_CAP": env_int("CLOSER_DAILY_CAP", 100),
        "CLOSER_VESTED_CONTRIBUTIONS": env_int("CLOSER_VESTED_CONTRIBUTIONS", 25),
        "CLOSER_MIN_RATING_PERCENT": env_int("CLOSER_MIN_RATING_PERCENT", 80),
        "KNOWN_ANSWER_DAILY_LIMIT": env_int("KNOWN_ANSWER_DAILY_LIMIT", 20),
        "ROOKIE_DAILY_CHALLENGES": env_int("ROOKIE_DAILY_CHALLENGES", 3),
        "PROSPECTOR_DAILY_CHALLENGES": env_int("PROSPECTOR_DAILY_CHALLENGES", 10),
        "CLOSER_DAILY_CHALLENGES": env_int("CLOSER_DAILY_CHALLENGES", 25),
        "CHALLENGE_BAN_DISMISSED": env_int("CHALLENGE_BAN_DISMISSED", 3),
        "CHALLENGE_BAN_WINDOW_DAYS": env_int("CHALLENGE_BAN_WINDOW_DAYS", 30),
        "CHALLENGE_BAN_DAYS": env_int("CHALLENGE_BAN_DAYS", 14),
        "INDEPENDENCE_WINDOW_DAYS": env_int("INDEPENDENCE_WINDOW_DAYS", 30),
        "REVEAL_COST": env_int("REVEAL_COST", 10),
        "ROYALTY_POINTS": env_int("ROYALTY_POINTS", 1),
        "REVEAL_DAILY_LIMIT": env_int("REVEAL_DAILY_LIMIT", 100),
        "FLAG_DUE_DAYS": env_int_map("FLAG_DUE_DAYS", FLAG_DUE_DAYS),
        "FLAG_PRIORITY": env_int_map("FLAG_PRIORITY", FLAG_PRIORITY),
        # Days until due for one kind of flag, over its source's (none by
        # default): FLAG_KIND_DUE_DAYS=proposed_change=14 gives members'
        # proposals the rest's 14. Kinds are checked when the app starts.
        "FLAG_KIND_DUE_DAYS": env_int_map("FLAG_KIND_DUE_DAYS", {}, any_keys=True),
        # Paying instead (SPEC section 3): plans, invoices, purchased points.
        "PRO_ALLOWANCE_PER_SEAT": env_int("PRO_ALLOWANCE_PER_SEAT", 200),
        "PURCHASED_POINTS_EXPIRY_DAYS": env_int("PURCHASED_POINTS_EXPIRY_DAYS", 365),
        "DEFAULT_CURRENCY": env_str("DEFAULT_CURRENCY", "EUR"),
        "INVOICE_NUMBER_PREFIX": env_str("INVOICE_NUMBER_PREFIX", "TSR"),
        "INVOICE_MAX_LINES": env_int("INVOICE_MAX_LINES", 10),
        "INVOICE_MAX_TOTAL": env_int("INVOICE_MAX_TOTAL", 1_000_000),
        "INVOICE_MAX_POINTS": env_int("INVOICE_MAX_POINTS", 10_000_000),
        "MAX_SEATS": env_int("MAX_SEATS", 10_000),
        "CONTRIBUTION_FILE_MAX_ROWS": env_int("CONTRIBUTION_FILE_MAX_ROWS", 5000),
        "CONTRIBUTION_FILE_MAX_BYTES": env_int(
            "CONTRIBUTION_FILE_MAX_BYTES", 5 * 1024 * 1024
        ),
        # Rows the list matcher reads the pool for at once (portal match).
        "MATCH_CHUNK_ROWS": env_int("MATCH_CHUNK_ROWS", 5000),
        # The enterprise list service (SPEC section 6).
        "LIST_MAX_BYTES": env_int("LIST_MAX_BYTES", 20 * 1024 * 1024),
        "LIST_MAX_ROWS": env_int("LIST_MAX_ROWS", 100_000),
        # Rows per chunk job of a match run; workers take chunks in parallel.
        "LIST_CHUNK_ROWS": env_int("LIST_CHUNK_ROWS", 5000),
        # A chunk claimed by a run silent for this long is taken over.
        "LIST_CHUNK_STALE_SECONDS": env_int("LIST_CHUNK_STALE_SECONDS", 600),
        # Price per delivered record by volume tier: (records in the tier,
        # unit price); the last tier takes the rest (its size is ignored).
        "LIST_PRICE_TIERS": [(1000, "0.50"), (9000, "0.30"), (None, "0.20")],
        "LIST_QUOTE_VALID_DAYS": env_int("LIST_QUOTE_VALID_DAYS", 14),
        # Uploaded files, outputs and row data are deleted this long after upload.
        "LIST_RETENTION_DAYS": env_int("LIST_RETENTION_DAYS", 30),
        # The privacy center (SPEC 7).
        "PRIVACY_LINK_MINUTES": env_int("PRIVACY_LINK_MINUTES", 10),
        # How long the session a privacy link opens lasts.
        "PRIVACY_SESSION_MINUTES": env_int("PRIVACY_SESSION_MINUTES", 30),
        "PRIVACY_LIMIT_PER_ADDRESS": env_str(
            "PRIVACY_LIMIT_PER_ADDRESS", "3 per hour;5 per day"
        ),
        "PRIVACY_LIMIT_PER_IP": env_str("PRIVACY_LIMIT_PER_IP", "20 per hour"),
        "PRIVACY_DUE_DAYS": env_int("PRIVACY_DUE_DAYS", 30),
        # Recipients of this many days back are told of corrections and erasures.
        "PRIVACY_RECIPIENT_DAYS": env_int("PRIVACY_RECIPIENT_DAYS", 365),
        # Notices sent per run of the notice job (every 2 minutes by default).
        "NOTICE_BATCH_SIZE": env_int("NOTICE_BATCH_SIZE", 500),
        # How long a notice's "remove me" link works.
        "REMOVE_LINK_DAYS": env_int("REMOVE_LINK_DAYS", 365),
        "SUPPRESSION_FILE_MAX_BYTES": env_int(
            "SUPPRESSION_FILE_MAX_BYTES", 20 * 1024 * 1024
        ),
        # Keys the suppression list's HMACs; like SECRET_KEY, generated once
        # into instance/ when not set. Rotating it forgets every suppression.
        "SUPPRESSION_KEY": env_str("SUPPRESSION_KEY"),
    }
    settings.update(overrides or {})
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = persistent_secret_key(folder)
    if not settings["SUPPRESSION_KEY"]:
        settings["SUPPRESSION_KEY"] = persistent_secret_key(folder, "suppression_key")
    if not settings["SQLALCHEMY_DATABASE_URI"]:
        settings["SQLALCHEMY_DATABASE_URI"] = sqlite_url(folder)
    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        settings["SQLALCHEMY_DATABASE_URI"]
    )
    settings["PUBLIC_URL"] = normalise_public_url(settings["PUBLIC_URL"])
    return settings


def normalise_public_url(url: str) -> str:
    """``PUBLIC_URL`` as scheme://host[:port][/prefix] without a trailing slash.

    Raises ``ValueError`` for anything else, at start-up rather than in the
    first email.
    """
    parts = urlsplit(url.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(
            f"PUBLIC_URL must look like https://tessera.example.com, got {url!r}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
