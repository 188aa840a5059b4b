"""Webhook subscriptions (admin): register, list, delete, and each one's deliveries.

A subscription is configuration, like an API token: a row of `qt_webhooks`, not an event.
It receives the events stored after it was registered (`after_position`) whose type it
lists (`Ticket.Dispatched`, or `*` for all) and the notifications of the kinds it lists
(`application.notify.rules.KINDS`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from application.base import Call
from application.errors import Forbidden, NotFound
from application.notify.rules import KINDS
from application.security import can
from application.service import CommandService
from domain.errors import InvalidValue

MAX_URL = 2000
EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z]{0,60}\.[A-Z][A-Za-z]{0,60}$")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES or host == "0.0.0.0":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any, own: list[str]) -> str:
    """http(s), at most 2,000 characters, and not this service (`own`: its base URLs)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidValue("url", "is required")
    if len(url) > MAX_URL:
        raise InvalidValue("url", f"is longer than {MAX_URL} characters")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue("url", "must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidValue("url", "has an invalid port") from None
    for base in own:
        b = urlsplit(base)
        if not b.hostname:
            continue
        b_port = b.port or (443 if b.scheme == "https" else 80)
        same_host = b.hostname.lower() == parts.hostname.lower() or (
            _is_loopback(b.hostname) and _is_loopback(parts.hostname)
        )
        if same_host and b_port == port:
            raise InvalidValue("url", "points to this Qualtrace service itself")
    return url.strip()


class Webhooks:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def _allow(self, call: Call, action: str) -> None:
        """Admins, company-wide only: a subscription sees every project's events."""
        if not can(call.principal, action) or not call.principal.company_wide:
            raise Forbidden(call.principal.role, action)

    def register(
        self,
        call: Call,
        url: str,
        event_types: list[str],
        notification_kinds: list[str],
        secret: str | None,
        own: list[str],
    ) -> dict[str, Any]:
        self._allow(call, "webhook.manage")
        url = check_url(url, own)
        for i, t in enumerate(event_types):
            if t != "*" and not EVENT_TYPE.match(t):
                raise InvalidValue(
                    f"event_types.{i}", "must be '*' or Aggregate.Event, e.g. Ticket.Dispatched"
                )
        for i, k in enumerate(notification_kinds):
            if k not in KINDS:
                raise InvalidValue(f"notification_kinds.{i}", f"must be one of {', '.join(KINDS)}")
        if not event_types and not notification_kinds:
            raise InvalidValue("event_types", "name at least one event type or notification kind")
        if secret is not None and (len(secret) < 16 or len(secret) > 200):
            raise InvalidValue("secret", "must be 16 to 200 characters")
        secret = secret or secrets.token_urlsafe(32)
        table = self.service.store.recorder.events_table_name  # type: ignore[attr-defined]
        rows = self.service.sql(
            f"""INSERT INTO qt_webhooks (id, url, secret, event_types, notification_kinds,
                after_position, created_by)
                VALUES (%s, %s, %s, %s, %s,
                        (SELECT coalesce(max(notification_id), 0) FROM {table}), %s)
                RETURNING *""",
            (
                uuid.uuid4(),
                url,
                secret,
                sorted(set(event_types)),
                sorted(set(notification_kinds)),
                call.principal.id,
            ),
        )
        return rows[0]

    def subscriptions(self, call: Call) -> list[dict[str, Any]]:
        self._allow(call, "webhook.read")
        return self.service.sql(
            f"SELECT {COLUMNS}, {COUNTS} FROM qt_webhooks w"
            " WHERE status <> 'deleted' ORDER BY created_at"
        )

    def get(self, call: Call, ref: str) -> dict[str, Any]:
        self._allow(call, "webhook.read")
        rows = self.service.sql(
            f"SELECT {COLUMNS}, {COUNTS} FROM qt_webhooks w WHERE id::text = %s", (ref,)
        )
        if not rows:
            raise NotFound("webhook", ref)
        return rows[0]

    def delete(self, call: Call, ref: str) -> dict[str, Any]:
        """Stop the subscription (its deliveries stay, for the record); repeatable."""
        self._allow(call, "webhook.manage")
        self.get(call, ref)
        self.service.sql(
            "UPDATE qt_webhooks SET status = 'deleted', status_reason = %s, updated_at = now()"
            " WHERE id::text = %s AND status <> 'deleted'",
            (f"deleted by {call.principal.id}", ref),
        )
        return self.get(call, ref)

    def deliveries(
        self, call: Call, ref: str, status: str | None, limit: int, after: int | None
    ) -> list[dict[str, Any]]:
        self.get(call, ref)
        return self.service.sql(
            """SELECT id, position, event_type, status, attempts, next_attempt_at, last_status,
                      last_error, created_at, sent_at, payload
               FROM qt_deliveries WHERE webhook_id::text = %s
                 AND (%s::text IS NULL OR status = %s) AND (%s::bigint IS NULL OR id > %s)
               ORDER BY id LIMIT %s""",
            (ref, status, status, after, after, limit + 1),
        )


COLUMNS = (
    "id, url, event_types, notification_kinds, after_position, status, status_reason,"
    " created_by, created_at, updated_at"
)
COUNTS = (
    "(SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM qt_deliveries"
    " d WHERE d.webhook_id = w.id GROUP BY status) s) AS deliveries"
)
