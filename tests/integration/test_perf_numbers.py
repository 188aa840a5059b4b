"""Human numbers (`CommandService.next_number`, a PostgreSQL sequence drawn in its own
round trip): unique and increasing across two processes with concurrent writers, and in
blocks (`next_numbers`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from application.base import Call
from application.security import Principal

ADMIN = Call(Principal("admin", "Admin", "admin"), "corr-1")

#: One process: `threads` writers, each receiving `per_thread` tickets; prints one JSON
#: line per ticket: [started, finished, number] (CLOCK_MONOTONIC is system-wide on Linux).
WRITER = textwrap.dedent(
    """
    import json, sys, threading, time
    from application.base import Call
    from application.security import Principal
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    url, threads, per_thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c = bootstrap(Settings(database_url=url, pool_size=4, run_projections=False), setup=False)
    desk = Call(Principal("li.na", "Li Na", "front_desk"), "corr")
    out, lock, go = [], threading.Lock(), threading.Event()

    def write():
        go.wait()
        for i in range(per_thread):
            started = time.monotonic()
            t = c.app.tickets.receive(
                desk, project="P1", kind="repair", channel="phone", priority="low",
                category="水电", description=f"漏水 {i}",
                reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
            )
            with lock:
                out.append((started, time.monotonic(), t.number))

    ts = [threading.Thread(target=write) for _ in range(threads)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    c.close()
    for row in out:
        print(json.dumps(row))
    """
)


def serial(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


def test_numbers_are_unique_and_increasing_across_two_processes(container: Any) -> None:
    container.app.org.register_region(ADMIN, "SH", "上海")
    container.app.org.register_project(ADMIN, "P1", "绿地花园", "SH")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, container.url, "3", "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    rows: list[tuple[float, float, str]] = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        rows += [tuple(json.loads(line)) for line in out.splitlines()]  # type: ignore[misc]
    assert len(rows) == 48
    numbers = [serial(n) for _, _, n in rows]
    assert len(set(numbers)) == 48  # unique
    assert {n.rsplit("-", 1)[0] for _, _, n in rows} == {rows[0][2].rsplit("-", 1)[0]}
    # Increasing: a command finished before another started has the smaller number,
    # whichever processes they ran in.
    ordered = sorted(rows)
    checked = 0
    for _a_start, a_end, a in ordered:
        for b_start, _, b in ordered:
            if b_start > a_end:
                assert serial(a) < serial(b), (a, b)
                checked += 1
    assert checked > 0
    # And the stored events carry the same numbers (the state holds what was drawn).
    with container.app.datastore.transaction(commit=False) as cur:
        cur.execute(
            "SELECT count(*) AS n FROM qualtrace_events WHERE topic = 'domain.tickets:Ticket.Received'"
        )
        assert cur.fetchone()["n"] == 48


def test_a_block_of_numbers_is_consecutive_after_the_one_before(container: Any) -> None:
    service = container.app.tickets.service
    first = service.next_number("ticket")
    block = service.next_numbers("ticket", 5)
    serials = [serial(first), *(serial(n) for n in block)]
    assert serials == sorted(serials) and len(set(serials)) == 6
    assert serials[1:] == list(range(serials[1], serials[1] + 5))  # nobody else drew meanwhile
