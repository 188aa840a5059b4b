"""All configuration, read from the environment once (by the composition root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUALTRACE_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    #: Where the embedded PostgreSQL lives (DATABASE_URL unset). Relative to the working
    #: directory of the process, resolved once here to an absolute path (docs/operations.md).
    data_dir: Path = Field(default=Path(".qualtrace"), validate_default=True)
    timezone: str = "Asia/Shanghai"
    #: Password of the read-only `qualtrace_reporting` role; unset = NOLOGIN (grant it to a login role).
    reporting_password: str | None = None
    sla_policy: dict[str, dict[str, int]] | None = None
    unreached_attempts_for_override: int = 3
    #: Inspection grading bands, highest first: [{min_score, grade, pay_adjustment_pct}]; unset = seed 003.
    grading_policy: list[dict[str, Any]] | None = None
    #: loop (issue #15): {kinds: {kind: weight}, deductions: {rule: points}, grading?}; unset =
    #: the city monthly check, 5 points per failed re-check or missed self-check (docs/assessment.md).
    assessment_policy: dict[str, Any] | None = None
    #: Ticket field policy (docs/tickets.md): response_ends, calendars, project_calendars,
    #: escalation ladder, callback_minutes, callback_reopen_below; unset = the defaults.
    ticket_policy: dict[str, Any] | None = None
    #: Dispatch suggestions' scoring weights over domain.dispatch.DISPATCH_POLICY
    #: (docs/dispatch.md); unset = the defaults.
    dispatch_policy: dict[str, Any] | None = None
    run_projections: bool = True
    pool_size: int = 8
    read_wait_seconds: float = 5.0
    #: How often the deadline watcher looks for passed due dates (SLA breaches, overdue NCs).
    deadline_interval_seconds: float = 30.0
    #: The event feed's SSE heartbeat while nothing happens (docs/events-feed.md).
    feed_heartbeat_seconds: float = 15.0
    #: Early-warning rules (docs/warnings.md); unset = the five defaults of domain/warnings.py.
    warning_rules: list[dict[str, Any]] | None = None
    #: How often the warning watcher evaluates the rules over the KPI facts.
    warning_interval_seconds: float = 300.0
    max_body_bytes: int = 1_048_576
    #: A survey agency's CSV file (POST /surveys/{id}/responses/import): its own size limit and deadline.
    max_import_bytes: int = 64 * 1_048_576
    import_timeout_seconds: float = 300.0
    log_level: str = "INFO"
    # -- security (docs/security.md) -----------------------------------------------
    #: OIDC JWTs are accepted when an issuer and a JWKS (URL or file) are configured.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_algorithms: list[str] = ["RS256", "ES256"]
    jwt_leeway_seconds: int = 30
    jwt_claim_id: str = "sub"
    jwt_claim_name: str = "name"
    jwt_claim_role: str = "qualtrace_role"
    jwt_claim_projects: str = "qualtrace_projects"
    jwt_claim_region: str = "qualtrace_region"
    #: Token bucket per principal and process: sustained requests per second, and burst.
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 200
    #: Per-request deadline; past it the client gets 504 (the work in progress still completes).
    request_timeout_seconds: float = 30.0
    #: Create/upgrade the schema at start-up; false when running as the restricted `qualtrace_app` role.
    setup_schema: bool = True
    # -- integrity verifications (docs/audit.md; issue #17) ----------------------------
    #: The worker re-verifies the whole store this often (0 = never; `qualtrace verify` does it on demand).
    integrity_interval_seconds: float = 3600.0
    #: `GET /audit/integrity` re-hashes at most this many events written since the last verification.
    integrity_tail_cap: int = 10_000
    # -- notify (docs/notifications.md) ---------------------------------------------
    #: SMTP for e-mail notifications; unset host = no e-mail channel.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "qualtrace@localhost"
    #: user id -> e-mail address of the principals who want notifications by e-mail.
    notify_emails: dict[str, str] = {}
    #: Per webhook call / SMTP session; a slower receiver counts as a failed attempt.
    webhook_timeout_seconds: float = 10.0
    #: Retries: exponential backoff with jitter from this base, capped; dead after N attempts.
    delivery_backoff_seconds: float = 2.0
    delivery_backoff_cap_seconds: float = 600.0
    delivery_max_attempts: int = 8
    #: This service's public base URLs (a webhook may not point to them; the request's own
    #: host is always refused too).
    public_urls: list[str] = []
    # -- attachments (docs/attachments.md) -------------------------------------------
    #: The largest evidence file accepted (POST /attachments answers 413 above it).
    attachment_max_bytes: int = 10 * 1_048_576
    #: Keep the EXIF GPS position of photos (default: removed before the file is stored).
    attachment_keep_gps: bool = False
    #: An upload no command referenced within this many hours is deleted by the sweep.
    attachment_ttl_hours: float = 24.0
    #: How often the sweep looks for such uploads (0 = never).
    attachment_sweep_interval_seconds: float = 600.0

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()
