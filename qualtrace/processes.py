"""The process follower: finishes, exactly once, what a stored trigger event calls for.

A failed inspection item raises a nonconformance; an escalated ticket raises one
(DOMAIN.md §2, §3). The command that stores the trigger runs the process inline right
after (`application.processes.Processes.follow_up`); this follower tails the event store like a
projection, with its own tracking row (`qt_projection_tracking`, name `processes`), and
completes any trigger whose result is missing — after a crash between the trigger and
its result, or a failure of the inline run. Delivery is at least once (a batch whose
transaction does not commit is read again); the effect is once, because each
nonconformance is created at version 1 of an id derived from the number the trigger
recorded, and `Processes.complete` skips (or loses the store's race for) one that exists.
"""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from application.processes import PROCESS_TRIGGERS, Processes
from projections.base import EventRecord, Projection


class ProcessFollower(Projection):
    """Not a read model: a tracked reader whose handler records events (it has no tables)."""

    name = "processes"
    tables: list[str] = []  # noqa: RUF012 - the Projection interface declares them as class attributes
    views: list[str] = []  # noqa: RUF012

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.completed = 0  # events recorded by this follower (a test and log aid)

    def handles(self, rec: EventRecord) -> bool:
        return (rec.aggregate, rec.type) in PROCESS_TRIGGERS

    def handle(self, cur: Cursor[Any], rec: EventRecord, schema: str) -> None:
        # Runs inside the batch's tracking transaction; the nonconformances are saved in
        # their own. A crash after they commit and before the tracking moves only means the
        # trigger is read again, and `Processes.complete` finds nothing left to do.
        recorded = self.processes.complete(rec.issue_id, rec.version)
        self.completed += len(recorded)
        if recorded:
            # The trigger's answer could not name these positions (its inline run failed):
            # note them, so a read at the trigger's position waits for them too (`read_position`).
            cur.execute(
                "INSERT INTO qt_process_consequences (trigger_position, through) VALUES (%s, %s)"
                " ON CONFLICT (trigger_position) DO UPDATE SET through = greatest("
                "qt_process_consequences.through, excluded.through)",
                (rec.position, max(recorded)),
            )
