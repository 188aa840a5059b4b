"""Two writers on one ticket: one wins, the other is told, and no event is lost."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from application.base import Call
from application.errors import PreconditionFailed
from application.security import Principal
from domain.errors import IllegalStep
from domain.tickets import Ticket

ADMIN = Principal("admin", "Admin", "admin")
DESK = Principal("li.na", "Li Na", "front_desk")
SUP = Principal("zhao", "Zhao Lei", "supervisor")
STAFF = Principal("wang.wei", "Wang Wei", "staff")


def call(p: Principal, if_match: int | None = None) -> Call:
    return Call(principal=p, correlation_id="test", if_match=if_match)


def dispatched_ticket(app: Any) -> str:
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "绿地花园", "SH")
    t = app.tickets.receive(
        call(DESK),
        project="P1",
        kind="repair",
        channel="phone",
        priority="normal",
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    )
    app.tickets.dispatch(call(SUP), t.id, "engineering", "wang.wei")
    return t.id


def race(app: Any, ticket_id: str, steps: list[Any]) -> list[Any]:
    """Run the steps in two threads that both load the ticket before either saves."""
    barrier = threading.Barrier(len(steps), timeout=10)
    results: list[Any] = [None] * len(steps)

    def run(i: int) -> None:
        fn, c = steps[i]
        first = [True]

        def step(t: Ticket, ctx: Any) -> None:
            if first[0]:
                first[0] = False
                barrier.wait()  # both have loaded the same version now
            fn(t, ctx)

        try:
            results[i] = app.service.execute(c, "ticket.note", Ticket, ticket_id, step)
        except Exception as e:  # collected and asserted below
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(steps))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_with_if_match_one_writer_wins_and_the_other_gets_a_precondition_failure(
    container: Any,
) -> None:
    app = container.app
    tid = dispatched_ticket(app)
    version = app.load(Ticket, tid).version
    results = race(
        app,
        tid,
        [
            (lambda t, c: t.add_note(c, "first"), call(SUP, if_match=version)),
            (lambda t, c: t.add_note(c, "second"), call(SUP, if_match=version)),
        ],
    )
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], PreconditionFailed)
    ticket = app.load(Ticket, tid)
    assert ticket.version == version + 1 and len(ticket.notes) == 1


def test_without_if_match_the_loser_is_retried_on_the_new_state(container: Any) -> None:
    app = container.app
    tid = dispatched_ticket(app)
    version = app.load(Ticket, tid).version
    # Two notes: both are kept, in some order; nothing is lost.
    results = race(
        app,
        tid,
        [
            (lambda t, c: t.add_note(c, "first"), call(SUP)),
            (lambda t, c: t.add_note(c, "second"), call(SUP)),
        ],
    )
    assert not any(isinstance(r, Exception) for r in results)
    ticket = app.load(Ticket, tid)
    assert ticket.version == version + 2
    assert sorted(n["text"] for n in ticket.notes) == ["first", "second"]
    # Two accepts: the retried one meets the new state and is refused with it.
    results = race(
        app,
        tid,
        [
            (lambda t, c: t.accept(c), call(STAFF)),
            (lambda t, c: t.accept(c), call(STAFF)),
        ],
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], IllegalStep)
    assert errors[0].state == "in_progress"
    assert app.load(Ticket, tid).version == version + 3


def test_a_stale_if_match_over_http_is_412_and_records_nothing(api: Any) -> None:
    api.setup_org()
    t = api.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "complaint",
            "channel": "app",
            "priority": "low",
            "category": "噪音",
            "description": "楼上装修噪音",
            "reporter": {"name": "李四", "unit": "2-302", "phone": "13900001111"},
        },
        role="front_desk",
    ).json()
    ok = api.post(
        f"/tickets/{t['id']}/notes",
        {"text": "已联系"},
        role="supervisor",
        headers={"If-Match": "1"},
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = api.post(
        f"/tickets/{t['id']}/notes", {"text": "again"}, role="supervisor", headers={"If-Match": "1"}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    detail = api.get(f"/tickets/{t['id']}", role="supervisor").json()
    assert detail["version"] == 2 and len(detail["notes"]) == 1


@pytest.mark.parametrize("threads", [8])
def test_concurrent_http_notes_are_all_recorded(api: Any, threads: int) -> None:
    api.setup_org()
    t = api.post(
        "/tickets",
        {
            "project": "P1",
            "kind": "inquiry",
            "channel": "web",
            "priority": "normal",
            "category": "咨询",
            "description": "物业费",
            "reporter": {"name": "王五", "unit": "5-501", "phone": "13700002222"},
        },
        role="front_desk",
    ).json()
    headers = api.token("supervisor")
    statuses: list[int] = []

    def note(i: int) -> None:
        r = api.client.post(
            f"/tickets/{t['id']}/notes", json={"text": f"note {i}"}, headers=headers
        )
        statuses.append(r.status_code)

    workers = [threading.Thread(target=note, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(s in (200, 409) for s in statuses)
    detail = api.get(f"/tickets/{t['id']}", role="supervisor").json()
    assert len(detail["notes"]) == statuses.count(200)
    assert detail["version"] == 1 + statuses.count(200)
