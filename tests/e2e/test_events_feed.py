"""The event feed (`GET /events`, `GET /events/stream`) against a real uvicorn server on
127.0.0.1: reconnects under concurrent writers neither skip nor repeat an event, the
feed is scoped and masked like the audit trail, heartbeats, bad input."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.live_server import live_service

PHONE = "13812345678"
#: Tickets each of the 8 writers receives and dispatches (two events each).
WRITES = 25


def ticket_body(project: str, n: int = 0) -> dict[str, Any]:
    return {
        "project": project,
        "kind": "repair",
        "channel": "phone",
        "priority": "high",
        "category": "水电维修",
        "description": f"厨房水管漏水 {n}",
        "reporter": {"name": "张三", "unit": "3-1201", "phone": PHONE},
    }


class Server:
    def __init__(self, container: Any, base: str) -> None:
        self.container = container
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)
        self._tokens: dict[tuple[Any, ...], str] = {}

    def h(self, role: str, projects: tuple[str, ...] = (), region: str | None = None) -> dict:
        from api.tokens import TokenStore

        key = (role, projects, region)
        if key not in self._tokens:
            _, self._tokens[key] = TokenStore(self.container.url).create(
                f"{role}-{'-'.join(projects) or region or 'all'}",
                role.replace("_", " ").title(),
                role,
                list(projects),
                region,
            )
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def post(self, path: str, body: Any, role: str = "admin") -> dict[str, Any]:
        r = self.http.post(path, json=body, headers=self.h(role))
        assert r.status_code in (200, 201), r.text
        return r.json()

    @property
    def events_table(self) -> str:
        recorder = self.container.app.recorder
        return f"{recorder.datastore.schema}.{recorder.events_table_name}"

    def store_positions(self, upto: int | None = None) -> list[int]:
        with psycopg.connect(self.container.url) as conn:
            rows = conn.execute(
                f"SELECT notification_id FROM {self.events_table}"
                " WHERE %s::bigint IS NULL OR notification_id <= %s ORDER BY 1",
                (upto, upto),
            ).fetchall()
        return [r[0] for r in rows]

    def head(self) -> int:
        return int(self.container.app.recorder.max_notification_id() or 0)


@pytest.fixture(scope="module")
def server(pg_admin_url: str, template_db: str) -> Iterator[Server]:
    with live_service(
        pg_admin_url,
        template_db,
        "feed-test-server",
        pool_size=10,
        read_wait_seconds=10.0,
        rate_limit_per_second=0,
        feed_heartbeat_seconds=0.3,
    ) as (container, base):
        s = Server(container, base)
        try:
            s.post("/regions", {"code": "SH", "name": "上海"})
            s.post("/regions", {"code": "BJ", "name": "北京"})
            for code, region in (("P1", "SH"), ("P2", "SH"), ("P3", "BJ")):
                s.post(
                    "/projects",
                    {"code": code, "name": f"项目{code}", "region": region, "households": 800},
                )
            yield s
        finally:
            s.http.close()


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into {id, event, data, comment} dicts."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            frame[field] = value


def read_stream(
    s: Server,
    headers: dict[str, str],
    last_id: int | None,
    stop_after: int | None,
    until_position: int | None = None,
    params: Any = None,
    seconds: float = 30.0,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Open the stream (resuming after `last_id`), read `stop_after` events or up to
    `until_position`, then drop the connection."""
    h = dict(headers)
    if last_id is not None:
        h["Last-Event-ID"] = str(last_id)
    got: list[dict[str, Any]] = []
    comments: list[str] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=s.base, timeout=10) as client:
        with client.stream("GET", "/events/stream", headers=h, params=params) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            for ev in sse_events(r):
                assert time.monotonic() < deadline, f"stream stalled after {len(got)} events"
                if "comment" in ev:
                    comments.append(ev["comment"])
                    continue
                if "id" not in ev:
                    continue  # the retry: hint
                got.append(ev)
                if stop_after is not None and len(got) >= stop_after:
                    break
                if until_position is not None and int(ev["id"]) >= until_position:
                    break
    return got, comments


def test_reconnects_under_eight_writers_neither_skip_nor_repeat(server: Server) -> None:
    s = server
    auditor = s.h("auditor")
    start = s.head()
    errors: list[str] = []

    reconnected = [0]

    def writer(w: int) -> None:
        # At least WRITES tickets, and on until the reader has reconnected 5 times (a slow
        # machine must not let the writers finish before the reader drops a connection).
        i = 0
        with httpx.Client(base_url=s.base, timeout=30) as client:
            while (i < WRITES or reconnected[0] < 5) and i < 20 * WRITES:
                r = client.post(
                    "/tickets",
                    json=ticket_body(("P1", "P2", "P3")[w % 3], w * 1000 + i),
                    headers=s.h("supervisor"),
                )
                i += 1
                if r.status_code != 201:
                    errors.append(r.text)
                    return
                r = client.post(
                    f"/tickets/{r.json()['id']}/dispatch",
                    json={"department": "engineering", "assignee": "staff-1"},
                    headers=s.h("supervisor"),
                )
                if r.status_code != 200:
                    errors.append(r.text)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in writers:
        t.start()
    received: list[int] = []
    last: int | None = start
    reconnects = 0
    # Drop the connection every 4-10 events while the writers append, then read to the end.
    while any(t.is_alive() for t in writers):
        got, _ = read_stream(s, auditor, last, stop_after=4 + reconnects % 7)
        received += [int(e["id"]) for e in got]
        last = received[-1] if received else last
        reconnects += 1
        reconnected[0] = reconnects
    for t in writers:
        t.join()
    assert not errors, errors[:3]
    head = s.head()
    got, _ = read_stream(s, auditor, last, stop_after=None, until_position=head)
    received += [int(e["id"]) for e in got]
    assert reconnects >= 5, "the writers finished before the stream was dropped mid-way"
    assert len(received) == len(set(received)), "an event was delivered twice"
    assert received == sorted(received), "events out of position order"
    expected = [p for p in s.store_positions(head) if p > start]
    assert len(expected) >= 8 * WRITES * 2
    assert received == expected
    print(f"{len(received)} events over {reconnects} reconnects")


def test_frames_carry_position_type_and_the_audit_trail_row(server: Server) -> None:
    s = server
    before = s.head()
    t = s.post("/tickets", ticket_body("P1"), "supervisor")
    got, _ = read_stream(s, s.h("auditor"), before, stop_after=None, until_position=t["position"])
    mine = [e for e in got if json.loads(e["data"])["issue_id"] == t["id"]]
    assert len(mine) == 1
    frame = mine[0]
    data = json.loads(frame["data"])
    assert int(frame["id"]) == t["position"] == data["position"]
    assert frame["event"] == data["type"]
    trail = s.http.get(
        "/audit/events",
        params={"issue": t["id"], "min_position": t["position"]},
        headers=s.h("auditor"),
    ).json()["items"]
    assert data == trail[0]


def all_pages(s: Server, headers: dict[str, str], after: int, limit: int = 7) -> list[dict]:
    items: list[dict] = []
    while True:
        r = s.http.get("/events", params={"after": after, "limit": limit}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if body["next_after"] == after:
            return items
        assert body["next_after"] > after
        after = body["next_after"]


def test_a_project_scoped_caller_sees_only_its_projects_events_like_the_trail(
    server: Server,
) -> None:
    s = server
    before = s.head()
    projects = ("P1", "P2", "P3", "P1")
    made = [s.post("/tickets", ticket_body(p), "supervisor") for p in projects]
    last = max(m["position"] for m in made)
    s.http.get("/events", params={"min_position": last}, headers=s.h("auditor"))
    p1 = s.h("project_manager", projects=("P1",))
    items = all_pages(s, p1, before)
    assert {i["project"] for i in items} == {"P1"}
    assert [i["issue_id"] for i in items] == [
        m["id"] for m, p in zip(made, projects, strict=True) if p == "P1"
    ]
    trail: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = s.http.get(
            "/audit/events", params={"limit": 500, "cursor": cursor}, headers=p1
        ).json()
        trail += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i["position"] for i in items] == [
        t["position"] for t in trail if t["position"] > before
    ]
    # The stream agrees with the pages.
    streamed, _ = read_stream(s, p1, before, None, params={"max_seconds": 0.5})
    assert [int(e["id"]) for e in streamed] == [i["position"] for i in items]
    # A region-scoped caller (BJ) sees P3 only.
    bj = all_pages(s, s.h("quality_manager", region="BJ"), before)
    assert [i["issue_id"] for i in bj] == [made[2]["id"]]


def test_personal_data_is_masked_for_roles_that_may_not_see_it(server: Server) -> None:
    s = server
    before = s.head()
    t = s.post("/tickets", ticket_body("P2"), "supervisor")
    s.http.get("/events", params={"min_position": t["position"]}, headers=s.h("auditor"))
    masked = all_pages(s, s.h("quality_manager"), before)
    assert masked[0]["data"]["reporter"]["phone"] == "138****5678"
    assert masked[0]["data"]["reporter"]["name"] != "张三"
    streamed, _ = read_stream(s, s.h("project_manager"), before, None, t["position"])
    assert json.loads(streamed[0]["data"])["data"]["reporter"]["phone"] == "138****5678"
    shown = all_pages(s, s.h("supervisor"), before)
    assert shown[0]["data"]["reporter"]["phone"] == PHONE
    with psycopg.connect(s.container.url) as conn:
        reads = conn.execute(
            "SELECT principal_role, via FROM personal_data_reads WHERE issue_id = %s", (t["id"],)
        ).fetchall()
    assert ("supervisor", "GET /events") in reads


def test_an_idle_stream_sends_heartbeats_and_ends_when_asked(server: Server) -> None:
    s = server
    started = time.monotonic()
    got, comments = read_stream(
        s, s.h("auditor"), s.head(), None, params={"max_seconds": 1.2}, seconds=10
    )
    assert got == []
    assert len([c for c in comments if c.startswith("heartbeat")]) >= 2
    assert time.monotonic() - started < 5


def test_a_live_event_reaches_an_open_stream_promptly(server: Server) -> None:
    s = server
    before = s.head()
    box: dict[str, Any] = {}

    def listen() -> None:
        box["got"], _ = read_stream(s, s.h("auditor"), before, stop_after=1, seconds=10)
        box["at"] = time.monotonic()

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(0.5)  # the stream is open and waiting
    sent = time.monotonic()
    made = s.post("/tickets", ticket_body("P1"), "supervisor")
    t.join(timeout=10)
    assert int(box["got"][0]["id"]) == made["position"]
    assert box["at"] - sent < 2.0


def test_bad_input_and_roles(server: Server) -> None:
    s = server
    r = s.http.get("/events/stream", headers={**s.h("auditor"), "Last-Event-ID": "abc"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Last-Event-ID" in r.text
    r = s.http.get("/events", params={"after": -1}, headers=s.h("auditor"))
    assert r.status_code == 422
    r = s.http.get("/events", params={"limit": 0}, headers=s.h("auditor"))
    assert r.status_code == 422
    for path in ("/events", "/events/stream"):
        r = s.http.get(path, headers=s.h("front_desk"))
        assert r.status_code == 403
        assert s.http.get(path).status_code == 401


def test_waiting_streams_hold_no_database_connection(server: Server) -> None:
    """More idle streams than the pool has connections: reads still answer at once, and
    one new event reaches every stream."""
    s = server
    before = s.head()
    n = s.container.settings.pool_size + 4
    got: list[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def listen() -> None:
        events, _ = read_stream(s, s.h("auditor"), before, stop_after=1, seconds=20)
        with lock:
            got.append(events)

    threads = [threading.Thread(target=listen) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # every stream has read once and waits
    started = time.monotonic()
    r = s.http.get("/events", params={"after": before}, headers=s.h("auditor"))
    assert r.status_code == 200 and time.monotonic() - started < 2.0
    made = s.post("/tickets", ticket_body("P2"), "supervisor")
    for t in threads:
        t.join(timeout=20)
    assert len(got) == n
    assert all(int(events[0]["id"]) == made["position"] for events in got)
