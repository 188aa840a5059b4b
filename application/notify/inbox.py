"""A principal's in-app notifications (`GET /me/notifications`) and marking them read."""

from __future__ import annotations

from typing import Any

from application.base import Call
from application.errors import NotFound
from application.service import CommandService


class Inbox:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def list(
        self, call: Call, unread: bool | None, limit: int, before: int | None
    ) -> list[dict[str, Any]]:
        """The caller's notifications, newest first; `limit + 1` rows (the caller pages)."""
        return self.service.sql(
            """SELECT id, position, rule AS kind, title, event_type, issue_id, issue_kind,
                      issue_number, project, occurred_at, created_at, read_at
               FROM qt_notifications WHERE recipient = %s
                 AND (%s::boolean IS NULL OR (read_at IS NULL) = %s)
                 AND (%s::bigint IS NULL OR id < %s)
               ORDER BY id DESC LIMIT %s""",
            (call.principal.id, unread, unread, before, before, limit + 1),
        )

    def unread_count(self, call: Call) -> int:
        rows = self.service.sql(
            "SELECT count(*) AS n FROM qt_notifications WHERE recipient = %s AND read_at IS NULL",
            (call.principal.id,),
        )
        return int(rows[0]["n"])

    def mark_read(self, call: Call, notification_id: str) -> dict[str, Any]:
        """Mark one of the caller's notifications read (the first time counts); another's,
        or none, is 404."""
        try:
            nid = int(notification_id)
        except ValueError:
            raise NotFound("notification", notification_id) from None
        rows = self.service.sql(
            """UPDATE qt_notifications SET read_at = coalesce(read_at, %s)
               WHERE id = %s AND recipient = %s
               RETURNING id, position, rule AS kind, title, read_at""",
            (self.service.clock(), nid, call.principal.id),
        )
        if not rows:
            raise NotFound("notification", notification_id)
        return rows[0]
