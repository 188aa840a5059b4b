"""Dispatch suggestions over HTTP (issue #16 item 6): staff with skills, a known history of
workloads and resolution times, and the ranking and every score computed by hand below.

The scoring table is `domain.dispatch.DISPATCH_POLICY`: skill l2 50 / l1 25 / none 0;
workload max(0, 30 - 10 x open); resolution max(0, 20 - 0.5 x median hours over the last
30 days), 10 without history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)

SUP = {"role": "supervisor", "user": "sup.1", "name": "Zhao Min"}
DESK = {"role": "front_desk", "user": "desk.1", "name": "Li Na"}

#: P1's staff: (id, name, department, skills). sun.li works at P2.
STAFF = [
    ("wang.wei", "王伟", "engineering", ["engineering.plumbing_electrical"]),
    ("li.qiang", "李强", "engineering", ["engineering"]),
    ("zhang.min", "张敏", "engineering", ["engineering.lifts"]),
    ("zhou.hui", "周慧", "engineering", ["engineering.building", "security.patrol"]),
    ("chen.jie", "陈杰", "cleaning", ["cleaning"]),
]


def ticket(category: str = "漏水", project: str = "P1") -> dict[str, Any]:
    return {
        "project": project,
        "kind": "repair",
        "channel": "phone",
        "priority": "normal",
        "category": category,
        "description": "卫生间天花板漏水",
        "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
    }


class Desk:
    """Posts at exact moments of the injectable clock and remembers the last position."""

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        clock.auto_tick = timedelta(0)
        self.position = 0

    def at(self, when: datetime) -> Desk:
        self.clock.now = when
        return self

    def post(self, path: str, body: Any = None, who: dict[str, Any] = SUP) -> dict[str, Any]:
        r = self.api.post(path, body or {}, **who)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"])
        return r.json()

    def received(self, category: str = "漏水", project: str = "P1") -> str:
        return str(self.post("/tickets", ticket(category, project))["id"])

    def dispatched(self, to: str, category: str = "漏水", department: str = "engineering") -> str:
        t = self.received(category)
        self.post(f"/tickets/{t}/dispatch", {"department": department, "assignee": to})
        return t

    def resolve(self, t: str, accept: bool = True) -> None:
        """Accept (unless accepted already) and resolve at the same moment."""
        if accept:
            self.post(f"/tickets/{t}/accept")
        self.post(f"/tickets/{t}/resolve", {"resolution": "已修复"})

    def suggestions(self, t: str, **who: Any) -> Any:
        who = who or SUP
        return self.api.get(
            f"/tickets/{t}/dispatch-suggestions",
            params={"min_position": self.position},
            **who,
        )


def hours(start: datetime, h: float) -> datetime:
    return start + timedelta(hours=h)


@pytest.fixture
def desk(api: Any, clock: Any) -> Desk:
    api.setup_org()
    d = Desk(api, clock)
    d.at(T0 - timedelta(days=50))
    for user, name, department, skills in STAFF:
        body = {"id": user, "name": name, "project": "P1", "department": department}
        d.post("/staff", {**body, "skills": skills}, who={"role": "admin"})
    d.post(
        "/staff",
        {
            "id": "sun.li",
            "name": "孙丽",
            "project": "P2",
            "department": "engineering",
            "skills": ["engineering.plumbing_electrical"],
        },
        who={"role": "admin"},
    )
    return d


def history(d: Desk) -> None:
    """Each person's record as of T0 + 10 days (the moment of the suggestions)."""
    # li.qiang, 45 days before "now": a ticket that took 100 h, outside the 30-day window.
    old = d.at(T0 - timedelta(days=35)).dispatched("li.qiang")
    d.at(hours(T0 - timedelta(days=35), 100)).resolve(old)
    # wang.wei: resolved in 4 h and in 10 h (median 7 h), and two open tickets.
    for day, took in ((1, 4), (2, 10)):
        start = T0 + timedelta(days=day)
        t = d.at(start).dispatched("wang.wei")
        d.at(hours(start, took)).resolve(t)
    d.at(T0 + timedelta(days=3)).dispatched("wang.wei")
    d.at(T0 + timedelta(days=3, hours=1)).dispatched("wang.wei", category="电梯")
    # li.qiang: accepted, on hold for 1 h (waiting for a part), resolved 3 h after the
    # dispatch: 2 h of work; no open ticket.
    start = T0 + timedelta(days=4)
    t = d.at(start).dispatched("li.qiang")
    d.at(start).post(f"/tickets/{t}/accept", who={"role": "staff", "user": "li.qiang"})
    d.at(hours(start, 1)).post(f"/tickets/{t}/hold", {"reason": "等待配件"})
    d.at(hours(start, 2)).post(f"/tickets/{t}/resume", {"reason": "配件已到"})
    d.at(hours(start, 3)).resolve(t, accept=False)
    # zhang.min: resolved in 5 h, but the resident was not satisfied: reopened, so the
    # ticket is open again and no resolution stands (no history).
    start = T0 + timedelta(days=5)
    t = d.at(start).dispatched("zhang.min")
    d.at(hours(start, 5)).resolve(t)
    d.at(hours(start, 6)).post(
        f"/tickets/{t}/callback", {"reached": True, "satisfied": False, "rating": 2}, who=DESK
    )
    # zhou.hui: one open ticket (a cleaning job dispatched to an engineer, say).
    d.at(T0 + timedelta(days=6)).dispatched("zhou.hui", category="保洁")
    # sun.li (P2): busy and fast, but not P1's staff.
    start = T0 + timedelta(days=6)
    t = d.at(start).dispatched("sun.li")
    d.at(hours(start, 1)).resolve(t)


def reasons(item: dict[str, Any]) -> dict[str, tuple[Any, float]]:
    return {r["factor"]: (r["value"], r["points"]) for r in item["reasons"]}


def test_the_project_staff_is_ranked_by_skill_workload_and_resolution_time_as_computed_by_hand(
    desk: Desk,
) -> None:
    history(desk)
    # Now: a new leak (漏水 → engineering.plumbing_electrical) at P1.
    t = desk.at(T0 + timedelta(days=10)).received("漏水")
    r = desk.suggestions(t)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket"]["category_code"] == "engineering.plumbing_electrical"
    items = body["items"]
    # wang.wei  l2 50 + workload 2 open 30-20=10 + median(4, 10)=7 h 20-3.5=16.5 = 76.5
    # li.qiang  l1 25 + workload 0 open 30        + median(2 h)=2 h 20-1=19      = 74.0
    # zhang.min l1 25 (lifts, a sibling) + 1 open (reopened) 20 + no history 10  = 55.0
    # zhou.hui  l1 25 (building)         + 1 open 20            + no history 10  = 55.0
    #           (tie with zhang.min: same open count, then the user id: zhang < zhou)
    # chen.jie  none 0 + workload 0 open 30 + no history 10                      = 40.0
    # sun.li works at P2: not a candidate.
    assert [(i["rank"], i["staff_id"], i["score"]) for i in items] == [
        (1, "wang.wei", 76.5),
        (2, "li.qiang", 74.0),
        (3, "zhang.min", 55.0),
        (4, "zhou.hui", 55.0),
        (5, "chen.jie", 40.0),
    ]
    by_id = {i["staff_id"]: i for i in items}
    assert reasons(by_id["wang.wei"]) == {
        "skill": ("l2", 50),
        "workload": (2, 10),
        "resolution": (7, 16.5),
    }
    assert reasons(by_id["li.qiang"]) == {
        "skill": ("l1", 25),
        "workload": (0, 30),
        "resolution": (2, 19),
    }
    assert reasons(by_id["zhang.min"]) == {
        "skill": ("l1", 25),
        "workload": (1, 20),
        "resolution": (None, 10),
    }
    assert reasons(by_id["chen.jie"]) == {
        "skill": ("none", 0),
        "workload": (0, 30),
        "resolution": (None, 10),
    }
    assert by_id["wang.wei"]["name"] == "王伟"
    assert by_id["chen.jie"]["department"] == "cleaning"
    # The reasons read as sentences, in English and in Chinese.
    wang = {r["factor"]: r for r in by_id["wang.wei"]["reasons"]}
    assert "engineering.plumbing_electrical" in wang["skill"]["explanation"]
    assert "2 open tickets" in wang["workload"]["explanation"]
    assert "median 7 h" in wang["resolution"]["explanation"]
    assert "2 tickets" in wang["resolution"]["explanation"]
    assert "中位用时 7 小时" in wang["resolution"]["explanation_zh"]
    assert (
        "no history"
        in {r["factor"]: r for r in by_id["chen.jie"]["reasons"]}["resolution"]["explanation"]
    )
    # The formula is answered with the ranking.
    assert body["policy"]["skill"] == {"l2": 50, "l1": 25, "none": 0}


def test_dispatching_the_suggestion_raises_that_persons_workload(desk: Desk) -> None:
    history(desk)
    t = desk.at(T0 + timedelta(days=10)).received("漏水")
    # The dispatcher picks li.qiang (rank 2): dispatch accepts every suggested id.
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "li.qiang"})
    r = desk.suggestions(t)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    # li.qiang: l1 25 + one open ticket now 20 + 19 = 64.0, still behind wang.wei (76.5)
    # and now ahead of zhang.min and zhou.hui (55.0) by less.
    assert [(i["staff_id"], i["score"]) for i in items] == [
        ("wang.wei", 76.5),
        ("li.qiang", 64.0),
        ("zhang.min", 55.0),
        ("zhou.hui", 55.0),
        ("chen.jie", 40.0),
    ]
    assert reasons(items[1])["workload"] == (1, 20)
    # The person who has the ticket now is marked (a transfer or re-dispatch would move it).
    assert [i["staff_id"] for i in items if i["current_assignee"]] == ["li.qiang"]
    # A resolved ticket leaves the workload, and its hours (1 h) join the median.
    desk.at(T0 + timedelta(days=10, hours=1)).resolve(t)
    fresh = desk.received("漏水")
    items = desk.suggestions(fresh).json()["items"]
    li = next(i for i in items if i["staff_id"] == "li.qiang")
    # median(2, 1) = 1.5 h → 20 - 0.75 = 19.25 → 19.3 (one decimal, half up); 25 + 30 + 19.3
    assert reasons(li) == {"skill": ("l1", 25), "workload": (0, 30), "resolution": (1.5, 19.3)}
    assert li["score"] == 74.3
    # Every suggested person is someone dispatch accepts.
    for item in items:
        r = desk.api.post(
            f"/tickets/{fresh}/dispatch",
            {"department": item["department"], "assignee": item["staff_id"]},
            **SUP,
        )
        assert r.status_code == 200, r.text


def test_a_project_without_registered_staff_gets_an_empty_list(desk: Desk) -> None:
    t = desk.received("漏水", project="P2")
    desk.api.post("/projects", {"code": "P3", "name": "P3", "region": "SH"})
    other = desk.received("漏水", project="P3")
    assert [i["staff_id"] for i in desk.suggestions(t).json()["items"]] == ["sun.li"]
    assert desk.suggestions(other).json()["items"] == []


def test_a_ticket_nobody_can_dispatch_or_transfer_is_409_naming_its_state(desk: Desk) -> None:
    t = desk.dispatched("wang.wei")
    desk.resolve(t)
    r = desk.suggestions(t)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "resolved" in r.json()["detail"]
    cancelled = desk.received()
    desk.post(f"/tickets/{cancelled}/cancel", {"reason": "重复工单"})
    assert desk.suggestions(cancelled).status_code == 409


def test_who_may_ask_and_scope(desk: Desk) -> None:
    t = desk.received("漏水")
    # Those who dispatch may ask: the front desk and supervisors.
    assert desk.suggestions(t, **DESK).status_code == 200
    # Staff, project managers and auditors may not (403).
    for role in ("staff", "project_manager", "auditor", "quality_manager"):
        r = desk.suggestions(t, role=role)
        assert r.status_code == 403, (role, r.text)
    # A front desk of P2 gets 404 for P1's ticket, exactly as for a ticket that does not exist.
    other = desk.suggestions(t, role="front_desk", user="desk.p2", projects=("P2",))
    missing = desk.suggestions(
        "TK-2026-999999", role="front_desk", user="desk.p2", projects=("P2",)
    )
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert (
        desk.api.get(
            f"/tickets/{t}", role="front_desk", user="desk.p2", projects=("P2",)
        ).status_code
        == 404
    )


def test_an_unknown_skill_is_422_naming_it_and_nothing_is_recorded(desk: Desk, api: Any) -> None:
    head = api.container.app.recorder.max_notification_id()
    body = {
        "id": "wu.fang",
        "name": "吴芳",
        "project": "P1",
        "department": "security",
        "skills": ["security.patrol", "plumbing-ish"],
    }
    r = api.post("/staff", body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "skills[1]"
    assert "plumbing-ish" in r.json()["detail"]
    r = api.post("/staff/wang.wei/skills", {"skills": ["engineering", "lifts"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "skills[1]"
    assert api.container.app.recorder.max_notification_id() == head
    # An unknown department, a user id with a space: 422 too.
    assert api.post("/staff", {**body, "skills": [], "department": "kitchen"}).status_code == 422
    assert api.post("/staff", {**body, "skills": [], "id": "wu fang"}).status_code == 422
    # Registering the same user twice: 409.
    again = {"id": "wang.wei", "name": "王伟", "project": "P1", "department": "engineering"}
    assert api.post("/staff", again).status_code == 409


def test_skills_change_as_attributed_events_in_the_audit_history(desk: Desk, api: Any) -> None:
    r = desk.post(
        "/staff/WANG.WEI/skills",  # a user id in any letter case
        {"skills": ["engineering.lifts", "engineering.plumbing_electrical"]},
        who={"role": "supervisor", "user": "sup.1", "name": "Zhao Min", "projects": ("P1",)},
    )
    staff_id = r["id"]
    listed = api.get("/staff", role="supervisor", params={"min_position": desk.position})
    wang = next(s for s in listed.json()["items"] if s["id"] == "wang.wei")
    assert wang["skills"] == ["engineering.lifts", "engineering.plumbing_electrical"]
    history = api.get(f"/audit/{staff_id}", params={"min_position": desk.position}).json()
    assert [e["type"] for e in history["events"]] == ["Registered", "SkillsChanged"]
    changed = history["events"][1]
    assert changed["actor"] == {"id": "sup.1", "name": "Zhao Min", "role": "supervisor"}
    assert changed["data"]["previous"] == ["engineering.plumbing_electrical"]
    # The same skills again change nothing: 409, not a second event.
    same = api.post(
        "/staff/wang.wei/skills",
        {"skills": ["engineering.plumbing_electrical", "engineering.lifts"]},
        role="supervisor",
    )
    assert same.status_code == 409, same.text
    # A supervisor of P2 cannot see P1's staff member (404), nor register one at P1 (422).
    p2 = {"role": "supervisor", "user": "sup.2", "projects": ("P2",)}
    assert api.post("/staff/wang.wei/skills", {"skills": []}, **p2).status_code == 404
    body = {"id": "x.y", "name": "X", "project": "P1", "department": "cleaning"}
    assert api.post("/staff", body, role="project_manager", projects=("P2",)).status_code == 422
    assert api.post("/staff", body, role="staff").status_code == 403
    scoped = api.get("/staff", role="supervisor", user="sup.2", projects=("P2",)).json()
    assert [s["id"] for s in scoped["items"]] == ["sun.li"]


def test_racing_registrations_and_retries_record_one_staff_member(api: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api.setup_org()
    body = {"id": "wu.fang", "name": "吴芳", "project": "P1", "department": "security"}
    api.token("admin")  # made once, before the threads share it
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.post("/staff", body), range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    # A retry with the same Idempotency-Key answers the first answer and records nothing.
    key = {"Idempotency-Key": "8d0f4c1e-5b7a-4c1e-9a53-1f7a2b3c4d5e"}
    skills = {"skills": ["security.patrol"]}
    first = api.post("/staff/wu.fang/skills", skills, headers=key)
    head = api.container.app.recorder.max_notification_id()
    again = api.post("/staff/wu.fang/skills", skills, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert api.container.app.recorder.max_notification_id() == head
    history = api.get(f"/audit/{first.json()['id']}", params={"min_position": head}).json()
    assert [e["type"] for e in history["events"]] == ["Registered", "SkillsChanged"]


def test_the_staff_list_pages_in_user_id_order(desk: Desk, api: Any) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "min_position": desk.position, "cursor": cursor}
        page = api.get("/staff", params={k: v for k, v in params.items() if v}).json()
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([u for u, *_ in STAFF] + ["sun.li"])
    engineers = api.get("/staff", params={"project": "P1", "department": "engineering"}).json()
    assert [s["id"] for s in engineers["items"]] == [
        "li.qiang",
        "wang.wei",
        "zhang.min",
        "zhou.hui",
    ]
    assert api.get("/staff", params={"cursor": "nonsense"}).status_code == 422


def test_whoever_rejected_the_ticket_is_demoted_with_the_reason(desk: Desk) -> None:
    history(desk)
    now = T0 + timedelta(days=10)
    t = desk.at(now).received("漏水")
    # wang.wei, first by 76.5 (see above), gets it and hands it back (拒单).
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "wang.wei"})
    wang = {"role": "staff", "user": "wang.wei"}
    desk.at(hours(now, 1)).post(f"/tickets/{t}/reject", {"reason": "手上两单未完"}, who=wang)
    items = desk.suggestions(t).json()["items"]
    # wang.wei: 50 + 10 + 16.5 - 40 x 1 rejection = 36.5 (the rejected ticket is not his
    # workload: it went back to dispatch); the others as computed above.
    assert [(i["staff_id"], i["score"]) for i in items] == [
        ("li.qiang", 74.0),
        ("zhang.min", 55.0),
        ("zhou.hui", 55.0),
        ("chen.jie", 40.0),
        ("wang.wei", 36.5),
    ]
    by_id = {i["staff_id"]: i for i in items}
    assert reasons(by_id["wang.wei"]) == {
        "skill": ("l2", 50),
        "workload": (2, 10),
        "resolution": (7, 16.5),
        "rejected": (1, -40),
    }
    rejected = by_id["wang.wei"]["reasons"][-1]
    assert rejected["explanation"] == "rejected this ticket back to dispatch 1 time"
    assert "拒单" in rejected["explanation_zh"]
    # Only a rejecter carries the penalty.
    assert "rejected" not in reasons(by_id["li.qiang"])
    # li.qiang takes it and rejects too; wang.wei gets it back and rejects again.
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "li.qiang"})
    li = {"role": "staff", "user": "li.qiang"}
    desk.at(hours(now, 2)).post(f"/tickets/{t}/reject", {"reason": "不熟悉该楼栋"}, who=li)
    desk.post(f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "wang.wei"})
    desk.at(hours(now, 3)).post(f"/tickets/{t}/reject", {"reason": "仍无空"}, who=wang)
    items = desk.suggestions(t).json()["items"]
    by_id = {i["staff_id"]: i for i in items}
    # li.qiang 25 + 30 + 19 - 40 = 34.0; wang.wei 76.5 - 2 x 40 = -3.5, last.
    assert reasons(by_id["li.qiang"])["rejected"] == (1, -40)
    assert reasons(by_id["wang.wei"])["rejected"] == (2, -80)
    assert [(i["staff_id"], i["score"]) for i in items] == [
        ("zhang.min", 55.0),
        ("zhou.hui", 55.0),
        ("chen.jie", 40.0),
        ("li.qiang", 34.0),
        ("wang.wei", -3.5),
    ]
    # The penalty is the policy's, answered with it.
    assert r_policy(desk, t)["rejection"] == {"per_rejection": 40}


def r_policy(desk: Desk, t: str) -> dict[str, Any]:
    return dict(desk.suggestions(t).json()["policy"])
