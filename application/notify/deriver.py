"""The notifier: a tracked consumer of the event store (like the projections: its own row
in `qt_projection_tracking`, batches, restartable) that turns each stored event into

- in-app notifications (`qt_notifications`), one per (position, recipient, rule), by the
  rules of `application.notify.rules`;
- deliveries (`qt_deliveries`, the outbox): one per webhook subscription and event
  (subscribed by event type) or notification kind, and one e-mail per notification whose
  recipient has an address.

Everything is written in the batch's transaction, with the tracking position, under
unique keys: a batch that is read again after a crash inserts nothing twice. Nothing is
sent here; the delivery loop (`store.delivery`) sends what the outbox holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from psycopg import Cursor
from psycopg.types.json import Jsonb

from application.notify.rules import RULES_BY_EVENT, Directory, Rule, Subject
from store.records import EventRecord, Projection

#: Fields of an event's data that hold residents' personal data: masked in deliveries.
PERSONAL = ("reporter",)

#: Channel poked when deliveries are added (`store.delivery.DeliveryLoop` listens).
DELIVERY_CHANNEL = "qt_deliveries"


def _mask(value: str) -> str:
    value = value.strip()
    if len(value) > 7 and value.replace("-", "").isdigit():
        return value[:3] + "****" + value[-4:]
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def event_body(rec: EventRecord) -> dict[str, Any]:
    """The event as integrations receive it: its place, its issue, who and when, its data
    (residents' names and phones masked)."""
    data = plain(rec.data())
    for key in PERSONAL:
        if isinstance(data.get(key), dict):
            data[key] = {
                k: (_mask(v) if k in ("name", "phone") and isinstance(v, str) else v)
                for k, v in data[key].items()
            }
    e = rec.event
    return {
        "position": rec.position,
        "type": f"{rec.aggregate}.{rec.type}",
        "issue_id": str(rec.issue_id),
        "version": rec.version,
        "occurred_at": rec.occurred_at.isoformat(),
        "actor": dict(rec.actor),
        "correlation_id": getattr(e, "correlation_id", None),
        "causation_id": getattr(e, "causation_id", None),
        "reason": getattr(e, "reason", None),
        "data": data,
    }


class NotificationDeriver(Projection):
    """Not a read model (its tables are service tables, never dropped by a rebuild: read
    state and delivery status are not derivable from events)."""

    name = "notifications"
    tables: ClassVar[list[str]] = []
    views: ClassVar[list[str]] = []

    def __init__(
        self,
        load: Callable[[UUID, int], Any],
        region_of: Callable[[str], str | None],
        emails: Mapping[str, str] | None = None,
    ) -> None:
        self.load = load
        self.region_of = region_of
        self.emails = dict(emails or {})
        self._webhooks: list[dict[str, Any]] = []
        self._added = 0

    def begin_batch(self, cur: Cursor[Any], schema: str) -> None:
        cur.execute(
            "SELECT id, event_types, notification_kinds, after_position FROM qt_webhooks"
            " WHERE status = 'active'"
        )
        self._webhooks = [
            {"id": r[0], "types": set(r[1]), "kinds": set(r[2]), "after": r[3]}
            for r in cur.fetchall()
        ]
        self._added = 0

    def end_batch(self, cur: Cursor[Any], schema: str) -> None:
        if self._added:
            cur.execute("SELECT pg_notify(%s, '')", (DELIVERY_CHANNEL,))

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        rules = RULES_BY_EVENT.get((rec.aggregate, rec.type), [])
        etype = f"{rec.aggregate}.{rec.type}"
        hooks = [w for w in self._webhooks if rec.position > w["after"]]
        body: dict[str, Any] | None = None
        for w in hooks:
            if etype in w["types"] or "*" in w["types"]:
                body = body or event_body(rec)
                self._deliver(
                    cur,
                    f"w:{w['id']}:{rec.position}",
                    "webhook",
                    w["id"],
                    None,
                    rec,
                    str(w["id"]),
                    {"event": body},
                )
        if not rules:
            return
        subject = Subject(
            rec,
            Directory(cur),
            lambda: self.load(rec.issue_id, rec.version),
            self.region_of,
        )
        for rule in rules:
            if not rule.when(subject):
                continue
            title = rule.title(subject)
            recipients = sorted(set(rule.recipients(subject)))
            for recipient in recipients:
                nid = self._notify(cur, rec, rule, recipient, title, subject)
                address = self.emails.get(recipient)
                if nid is not None and address:
                    self._deliver(
                        cur,
                        f"e:{nid}",
                        "email",
                        None,
                        nid,
                        rec,
                        address,
                        {
                            "to": address,
                            "subject": title,
                            "kind": rule.kind,
                            "text": f"{title}\n\n{etype} {subject.number} (position {rec.position})",
                        },
                    )
            for w in hooks:
                if rule.kind in w["kinds"]:
                    body = body or event_body(rec)
                    self._deliver(
                        cur,
                        f"w:{w['id']}:{rec.position}:{rule.kind}",
                        "webhook",
                        w["id"],
                        None,
                        rec,
                        str(w["id"]),
                        {
                            "notification": {
                                "kind": rule.kind,
                                "title": title,
                                "recipients": recipients,
                            },
                            "event": body,
                        },
                    )

    def _notify(
        self,
        cur: Cursor[Any],
        rec: EventRecord,
        rule: Rule,
        recipient: str,
        title: str,
        subject: Subject,
    ) -> int | None:
        cur.execute(
            """INSERT INTO qt_notifications (position, rule, recipient, event_type, issue_id,
               issue_kind, issue_number, project, title, occurred_at)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)
               ON CONFLICT ON CONSTRAINT qt_notifications_once DO NOTHING RETURNING id""",
            (
                rec.position,
                rule.kind,
                recipient,
                f"{rec.aggregate}.{rec.type}",
                rec.issue_id,
                rec.aggregate.lower(),
                subject.number or None,
                subject.project,
                title,
                rec.occurred_at,
            ),
        )
        row = cur.fetchone()
        return int(row[0] if isinstance(row, tuple) else row["id"]) if row else None

    def _deliver(
        self,
        cur: Cursor[Any],
        key: str,
        channel: str,
        webhook: Any,
        notification: int | None,
        rec: EventRecord,
        target: str,
        payload: dict[str, Any],
    ) -> None:
        cur.execute(
            """INSERT INTO qt_deliveries (dedup_key, channel, webhook_id, notification_id,
               position, event_type, target, payload) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)
               ON CONFLICT (dedup_key) DO NOTHING""",
            (
                key,
                channel,
                webhook,
                notification,
                rec.position,
                f"{rec.aggregate}.{rec.type}",
                target,
                Jsonb(json.loads(json.dumps(payload, ensure_ascii=False))),
            ),
        )
        self._added += cur.rowcount or 0
