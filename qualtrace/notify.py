"""Wiring of the notify feature (docs/notifications.md): the circular process's follower,
the notifier (a tracked consumer deriving notifications and deliveries), and the
delivery loop with its channels, built from `Settings`."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from application.app import Qualtrace
from application.circulars import CIRCULAR_TRIGGERS, CircularProcess
from application.notify.deriver import NotificationDeriver
from projections.base import EventRecord, Projection
from qualtrace.settings import Settings
from store.delivery import (
    Backoff,
    Channel,
    DeliveryLoop,
    EmailChannel,
    Outbox,
    SmtpSettings,
    WebhookChannel,
)


class CircularFollower(Projection):
    """Raises, exactly once, the circular a failed re-check calls for (like the process
    follower: a tracked reader whose handler records events; it has no tables)."""

    name = "circular_process"
    tables: list[str] = []  # noqa: RUF012
    views: list[str] = []  # noqa: RUF012

    def __init__(self, process: CircularProcess) -> None:
        self.process = process
        self.completed = 0

    def handles(self, rec: EventRecord) -> bool:
        return (rec.aggregate, rec.type) in CIRCULAR_TRIGGERS and not rec.event.effective

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        recorded = self.process.complete(rec.issue_id, rec.version)
        self.completed += len(recorded)
        if recorded:
            # A read at the verification's position waits for the circular too.
            cur.execute(
                "INSERT INTO qt_process_consequences (trigger_position, through) VALUES (%s, %s)"
                " ON CONFLICT (trigger_position) DO UPDATE SET through = greatest("
                "qt_process_consequences.through, excluded.through)",
                (rec.position, max(recorded)),
            )


def notification_deriver(app: Qualtrace, settings: Settings) -> NotificationDeriver:
    def load(issue_id: Any, version: int) -> Any:
        return app.repository.get(issue_id, version=version)

    return NotificationDeriver(load, app.service.project_region, settings.notify_emails)


def delivery_loop(url: str, settings: Settings) -> DeliveryLoop:
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(timeout=settings.webhook_timeout_seconds)
    }
    if settings.smtp_host:
        channels["email"] = EmailChannel(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                sender=settings.smtp_sender,
                timeout=settings.webhook_timeout_seconds,
            )
        )
    backoff = Backoff(
        base_seconds=settings.delivery_backoff_seconds,
        cap_seconds=settings.delivery_backoff_cap_seconds,
        max_attempts=settings.delivery_max_attempts,
    )
    lease = settings.webhook_timeout_seconds * 3 + 5
    return DeliveryLoop(url, channels, Outbox(url, backoff, lease_seconds=lease))
