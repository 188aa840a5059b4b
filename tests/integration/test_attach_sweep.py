"""No orphan evidence files (docs/attachments.md): an upload no command referenced within
the TTL is swept; a failed command leaves no reference; a referenced file is never swept,
not even when the sweep and the referencing command race."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from application.base import Call
from application.errors import UnknownReference
from application.security import Principal
from domain.errors import IllegalStep
from tests.attach_files import pdf, photo, ticket

ADMIN = Call(Principal("admin", "Admin", "admin"), "attach-sweep")
DESK = Call(Principal("li.na", "Li Na", "front_desk"), "attach-sweep")
STAFF = Call(Principal("wang.wei", "Wang Wei", "staff"), "attach-sweep")


@pytest.fixture
def app(container: Any) -> Any:
    app = container.app
    app.org.register_region(ADMIN, "SH", "上海")
    app.org.register_project(ADMIN, "P1", "项目一", "SH", 800)
    return app


def files(container: Any) -> set[str]:
    with psycopg.connect(container.url) as conn:
        return {r[0] for r in conn.execute("SELECT digest FROM qt_attachments")}


def refs(container: Any) -> list[tuple[str, str]]:
    with psycopg.connect(container.url) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute("SELECT digest, step FROM qt_attachment_refs ORDER BY step")
        ]


def test_unreferenced_uploads_are_swept_after_the_ttl_and_referenced_ones_never(
    app: Any, container: Any, clock: Any
) -> None:
    # Two photos uploaded; one named by a ticket, the other by a step that fails.
    kept = app.attachments.upload(DESK, photo(color=(1, 2, 3)), "image/jpeg", "kept.jpg")
    lost = app.attachments.upload(STAFF, photo(color=(3, 2, 1)), "image/jpeg", "lost.jpg")
    t = app.tickets.receive(DESK, **ticket(attachments=[kept["digest"]]))
    with pytest.raises(IllegalStep):  # not dispatched yet: no resolution
        app.tickets.resolve(STAFF, t.id, "修好了", [lost["digest"]])
    assert refs(container) == [(kept["digest"], "receive")]
    # Within the TTL nothing goes.
    clock.advance(hours=23)
    assert app.attachments.sweep() == 0
    assert files(container) == {kept["digest"], lost["digest"]}
    # Past it, the unreferenced upload goes (with its uploader row); the referenced stays.
    clock.advance(hours=2)
    assert app.attachments.sweep() == 1
    assert files(container) == {kept["digest"]}
    with psycopg.connect(container.url) as conn:
        assert conn.execute("SELECT count(*) FROM qt_attachment_uploads").fetchone() == (1,)
    # Naming the swept file now is 422 naming it.
    with pytest.raises(UnknownReference) as e:
        app.tickets.receive(DESK, **ticket(attachments=[lost["digest"]]))
    assert e.value.field == "attachments.0" and lost["digest"] in e.value.message
    # Long after: still there.
    clock.advance(days=400)
    assert app.attachments.sweep() == 0 and files(container) == {kept["digest"]}


def test_uploading_the_same_bytes_again_restarts_the_ttl(
    app: Any, container: Any, clock: Any
) -> None:
    first = app.attachments.upload(DESK, pdf(), "application/pdf", "a.pdf")
    clock.advance(hours=20)
    again = app.attachments.upload(STAFF, pdf(), None, "b.pdf")
    assert again["digest"] == first["digest"]
    clock.advance(hours=20)
    assert app.attachments.sweep() == 0
    clock.advance(hours=5)
    assert app.attachments.sweep() == 1 and files(container) == set()


def test_a_referenced_file_cannot_be_deleted_at_all(app: Any, container: Any) -> None:
    d = app.attachments.upload(DESK, photo(), None, None)["digest"]
    app.tickets.receive(DESK, **ticket(attachments=[d]))
    # PostgreSQL 15 reports the RESTRICT key as a foreign-key violation, later releases
    # (the embedded server) as a restrict violation: either refuses the delete.
    refused = (psycopg.errors.ForeignKeyViolation, psycopg.errors.RestrictViolation)
    with (
        psycopg.connect(container.url) as conn,
        pytest.raises(refused, match="qt_attachment_refs"),
    ):
        conn.execute("DELETE FROM qt_attachments WHERE digest = %s", (d,))
    # Nor its reference: append-only, like the event that made it.
    for statement in (
        "DELETE FROM qt_attachment_refs",
        "UPDATE qt_attachment_refs SET step = 'x'",
        "TRUNCATE qt_attachment_refs",
    ):
        with (
            psycopg.connect(container.url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        ):
            conn.execute(statement)
    assert refs(container) == [(d, "receive")]


def test_a_command_racing_the_sweep_either_references_the_file_or_fails_422(
    app: Any, container: Any, clock: Any
) -> None:
    """The sweep holds the expired file locked while the command's append transaction
    wants it: the command waits, finds it gone, and records nothing. And the other way
    round: while a command holds the file, the sweep passes it by."""
    d = app.attachments.upload(DESK, photo(color=(9, 9, 9)), None, None)["digest"]
    clock.advance(hours=25)
    head = app.recorder.max_notification_id()
    # 1. The sweep's transaction locks the file first (as its DELETE does) and commits late.
    sweeper = psycopg.connect(container.url)
    sweeper.execute("SELECT 1 FROM qt_attachments WHERE digest = %s FOR UPDATE", (d,))
    sweeper.execute("DELETE FROM qt_attachments WHERE digest = %s", (d,))
    outcome: dict[str, Any] = {}

    def command() -> None:
        try:
            outcome["result"] = app.tickets.receive(DESK, **ticket(attachments=[d]))
        except Exception as e:  # noqa: BLE001 - the outcome is what the test checks
            outcome["error"] = e

    worker = threading.Thread(target=command)
    worker.start()
    worker.join(1.0)
    assert worker.is_alive(), "the command should wait for the sweep's lock"
    sweeper.commit()
    sweeper.close()
    worker.join(30)
    assert isinstance(outcome.get("error"), UnknownReference), outcome
    assert app.recorder.max_notification_id() == head and refs(container) == []

    # 2. A command's transaction holds a file (FOR KEY SHARE, as its hook does): the sweep
    # skips it, and once the command commits the file is referenced for good.
    d2 = app.attachments.upload(DESK, photo(color=(8, 8, 8)), None, None)["digest"]
    clock.advance(hours=25)
    holder = psycopg.connect(container.url)
    holder.execute("SELECT 1 FROM qt_attachments WHERE digest = %s FOR KEY SHARE", (d2,))
    assert app.attachments.sweep() == 0
    holder.rollback()
    holder.close()
    assert app.attachments.sweep() == 1 and d2 not in files(container)


def test_the_same_bytes_uploaded_at_once_by_many_are_one_file(app: Any, container: Any) -> None:
    data = photo(color=(5, 6, 7))
    people = [Call(Principal(f"staff-{i}", f"Staff {i}", "staff"), "attach-race") for i in range(8)]
    answers: list[Any] = []
    barrier = threading.Barrier(len(people))

    def upload(who: Call) -> None:
        barrier.wait()
        try:
            answers.append(
                app.attachments.upload(who, data, "image/jpeg", f"{who.principal.id}.jpg")
            )
        except Exception as e:  # noqa: BLE001 - the outcome is what the test checks
            answers.append(e)

    threads = [threading.Thread(target=upload, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(a, dict) for a in answers), answers
    assert len({a["digest"] for a in answers}) == 1 and len(answers) == len(people)
    assert len(files(container)) == 1
    with psycopg.connect(container.url) as conn:
        assert conn.execute("SELECT count(*) FROM qt_attachment_uploads").fetchone() == (8,)
