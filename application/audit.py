"""Audit use cases: an issue's state at any past moment, raw events for audit packs,
and verification of the store's hash chains (`store/integrity.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError

from application.errors import NotFound
from application.service import CommandService
from domain.base import QAggregate
from store import integrity, verifications


class AuditQueries:
    def __init__(self, service: CommandService) -> None:
        self.service = service
        self.store = service.store

    @property
    def events_table(self) -> str:
        return f'"{self.store.datastore.schema}"."{self.store.recorder.events_table_name}"'  # type: ignore[attr-defined]

    def current_version(self, issue_id: UUID) -> int | None:
        rows = self.service.sql(
            f"SELECT max(originator_version) AS v FROM {self.events_table} WHERE originator_id = %s",
            (issue_id,),
        )
        return rows[0]["v"] if rows else None

    def version_at(self, issue_id: UUID, at: datetime) -> int | None:
        """The last version of the issue that occurred at or before `at` (None: not yet created).

        Reads each event's own timestamp from the store (the command's `now`), not the
        moment the row was written."""
        # `occurred_at` is stamped from the state by the insert trigger (and checked by
        # verify). Newest first on the primary key, stopping at the first match: the same
        # answer as max(version) over the matches.
        rows = self.service.sql(
            f"""SELECT originator_version AS v FROM {self.events_table}
                WHERE originator_id = %s AND occurred_at <= %s
                ORDER BY originator_version DESC LIMIT 1""",
            (issue_id, at),
        )
        return rows[0]["v"] if rows else None

    def issue_as_of(
        self, issue_id: UUID, *, version: int | None = None, at: datetime | None = None
    ) -> QAggregate:
        """Reconstruct the issue from its events (and snapshots) at a version or a moment."""
        if at is not None:
            version = self.version_at(issue_id, at)
            if version is None:
                raise NotFound("issue", f"{issue_id} did not exist at {at.isoformat()}")
        else:
            current = self.current_version(issue_id)
            if current is None:
                raise NotFound("issue", str(issue_id))
            if version is not None and version > current:
                raise NotFound("version", f"{version} of {issue_id} (the latest is {current})")
        try:
            agg: Any = self.store.repository.get(issue_id, version=version)
        except AggregateNotFoundError:
            raise NotFound("issue", str(issue_id)) from None
        return agg

    def raw_events(
        self, *, issue_ids: list[UUID] | None = None, positions: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """Stored rows exactly as written (state bytes and hashes), in position order."""
        param: list[Any]
        if issue_ids is not None:
            where, param = "originator_id = ANY(%s)", list(issue_ids)
        else:
            where, param = "notification_id = ANY(%s)", list(positions or [])
        return self.service.sql(
            f"""SELECT notification_id AS position, originator_id::text AS issue_id,
                       originator_version AS version, topic, state, prev_hash, event_hash
                FROM {self.events_table} WHERE {where} ORDER BY notification_id""",
            (param,),
        )

    def verify_integrity(self) -> integrity.VerifyResult:
        """Re-hash every event and walk the per-issue chains and the ledger."""
        info = self.store.datastore.pool.conninfo
        kwargs = {
            k: v
            for k, v in dict(self.store.datastore.pool.kwargs or {}).items()
            if k != "row_factory"
        }
        kwargs["autocommit"] = True
        with psycopg.connect(info, **kwargs) as conn:
            return integrity.verify_store(
                conn,
                self.store.datastore.schema,
                self.store.recorder.events_table_name,  # type: ignore[attr-defined]
            )

    # -- integrity verifications on record (store/verifications.py; issue #17) ----------
    def _connect(self) -> psycopg.Connection[Any]:
        info = self.store.datastore.pool.conninfo
        kwargs = {
            k: v
            for k, v in dict(self.store.datastore.pool.kwargs or {}).items()
            if k != "row_factory"
        }
        kwargs["autocommit"] = True
        return psycopg.connect(info, **kwargs)

    def verify_and_record(self, trigger: str) -> integrity.VerifyResult:
        """A full verification, recorded with its snapshot (`qualtrace verify`, the worker)."""
        schema = self.store.datastore.schema
        table = self.store.recorder.events_table_name  # type: ignore[attr-defined]
        result, _ = verifications.verify_and_record(
            self._connect, lambda conn: integrity.verify_store(conn, schema, table), trigger
        )
        return result

    def integrity_report(self, cap: int = verifications.DEFAULT_TAIL_CAP) -> dict[str, Any]:
        """The last recorded verification, and the tail after it re-hashed (at most `cap`
        events). With nothing on record and a store no larger than `cap`, a full
        verification runs now and is recorded (its cost is within the same bound)."""
        schema = self.store.datastore.schema
        table = self.store.recorder.events_table_name  # type: ignore[attr-defined]
        with self._connect() as conn:
            recorded = verifications.last(conn)
            if recorded is None:
                head = conn.execute(
                    f'SELECT coalesce(max(notification_id), 0) FROM "{schema}"."{table}"'
                ).fetchone()
                if head is not None and int(head[0]) <= cap:
                    self.verify_and_record("request")
                    recorded = verifications.last(conn)
            if recorded is None:
                tail = verifications.verify_tail(conn, 0, None, [], cap, schema, table)
            else:
                tail = verifications.verify_tail(
                    conn,
                    recorded.through_position,
                    recorded.snapshot_xmax,
                    recorded.snapshot_xip,
                    cap,
                    schema,
                    table,
                )
        return verifications.report(recorded, tail)
