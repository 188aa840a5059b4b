"""Complaint analysis (投诉统计分析, issue #16 item 5) equals a hand count on a known set:
three projects in two regions, categories in different spellings, unknown texts, repeats
at 1, 2, 16 and 29 days but not at 31, reclassified tickets, a cancelled duplicate and a
repair that is no complaint. KPIs (JSON, CSV and SQL), top categories, repeats and the
monthly analysis (JSON and CSV) are all checked against the same count, over HTTP."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

H10 = timedelta(hours=2)  # 02:00 UTC = 10:00 in Shanghai: the local day is the UTC day


def day(month: int, d: int) -> datetime:
    return datetime(2026, month, d, tzinfo=timezone.utc) + H10


class Desk:
    """Receives and moves tickets over HTTP at exact times."""

    def __init__(self, api: Any, clock: Any) -> None:
        self.api, self.clock = api, clock
        clock.auto_tick = timedelta(0)
        self.position = 0
        self.numbers: dict[str, str] = {}

    def post(self, when: datetime, path: str, body: Any = None, role: str = "supervisor") -> Any:
        self.clock.now = when
        r = self.api.post(path, body or {}, role=role)
        assert r.status_code in (200, 201), r.text
        self.position = max(self.position, r.json()["position"])
        return r.json()

    def receive(
        self,
        name: str,
        when: datetime,
        project: str,
        unit: str,
        category: str,
        kind: str = "complaint",
    ) -> str:
        body = {
            "project": project,
            "kind": kind,
            "channel": "phone",
            "priority": "normal",
            "category": category,
            "description": "业主来电",
            "reporter": {"name": "张三", "unit": unit, "phone": "13812345678"},
        }
        answer = self.post(when, "/tickets", body, role="front_desk")
        self.numbers[name] = answer["number"]
        return str(answer["id"])

    def handle(self, when: datetime, t: str, satisfied: bool, close: bool) -> None:
        """Dispatch, accept, resolve, call back (reached) and, when satisfied, close."""
        self.post(when, f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "wang"})
        self.post(when + timedelta(minutes=5), f"/tickets/{t}/accept", role="staff")
        self.post(
            when + timedelta(hours=1),
            f"/tickets/{t}/resolve",
            {"resolution": "处理完毕"},
            role="staff",
        )
        self.post(
            when + timedelta(hours=2),
            f"/tickets/{t}/callback",
            {"reached": True, "satisfied": satisfied, "rating": 5 if satisfied else 2},
            role="front_desk",
        )
        if close:
            self.post(when + timedelta(hours=2), f"/tickets/{t}/close", role="front_desk")


@pytest.fixture
def known(api: Any, clock: Any) -> Desk:
    """The known set. Hand count of P1, March 2026 (complaints, not cancelled): 10 —
    engineering 2 (A1, A2), security 3 (A3; A4, A5 parking), other 2 (A6, A7 unknown
    texts), attitude 2 (A8 reclassified from 保洁, A9), charges 1 (A11 reclassified from
    an inquiry); repeats A2 (of A1, 29 days), A5 (of A4, 1 day), A9 (of A8, 2 days, only
    once A8 is reclassified). February: 3 (engineering, greening, cleaning)."""
    clock.now = day(1, 5)
    api.setup_org("SH", ("P1", "P2"))
    api.setup_org("BJ", ("P3",))
    d = Desk(api, clock)
    # February, P1: the month before
    d.receive("F1", day(2, 10), "P1", "8-808", "水电")
    d.receive("F2", day(2, 12), "P1", "9-909", "绿化")
    d.receive("F3", day(2, 27), "P1", "2-202", "保洁")  # A3 is 安保: another category
    # March, P1
    a1 = d.receive("A1", day(3, 1), "P1", "1-101", "水电")
    d.handle(day(3, 1), a1, satisfied=True, close=True)
    a3 = d.receive("A3", day(3, 3), "P1", "2-202", "安保")
    d.handle(day(3, 3), a3, satisfied=False, close=False)  # reopened
    a4 = d.receive("A4", day(3, 5), "P1", "3-303", "security/parking")
    d.handle(day(3, 5), a4, satisfied=True, close=True)
    d.receive("A5", day(3, 6), "P1", "3-303", "停车")  # repeat of A4, 1 day
    d.receive("A6", day(3, 7), "P1", "4-404", "月亮太亮")  # unknown -> other
    d.receive("A7", day(3, 8), "P1", "4-404", "the moon")  # unknown again: no repeat
    d.receive("R1", day(3, 9), "P1", "1-101", "水电", kind="repair")  # no complaint
    a8 = d.receive("A8", day(3, 10), "P1", "6-606", "保洁")
    d.receive("A9", day(3, 12), "P1", "6-606", "态度")
    d.post(
        day(3, 13), f"/tickets/{a8}/reclassify", {"category": "服务态度", "reason": "实为态度投诉"}
    )
    a10 = d.receive("A10", day(3, 15), "P1", "7-707", "绿化")
    d.post(day(3, 15), f"/tickets/{a10}/cancel", {"reason": "duplicate"}, role="front_desk")
    a11 = d.receive("A11", day(3, 20), "P1", "5-505", "收费", kind="inquiry")
    d.post(
        day(3, 20),
        f"/tickets/{a11}/reclassify",
        {"kind": "complaint", "category": "物业费", "reason": "业主投诉物业费"},
    )
    d.receive("A2", day(3, 30), "P1", " 1-101", "工程维修 › 水电")  # repeat of A1, 29 days
    # April, P1: 31 days after A2, same unit and category: no repeat
    d.receive("B1", day(4, 30), "P1", "1-101", "engineering/plumbing_electrical")
    # March, P2: the same unit text as in P1 is another household
    d.receive("C1", day(3, 2), "P2", "1-101", "水电")
    d.receive("C2", day(3, 4), "P2", "1-101", "电梯")
    d.receive("C3", day(3, 20), "P2", "1-101", "lift")  # repeat of C2, 16 days
    # March, P3 (region BJ)
    d.receive("D1", day(3, 5), "P3", "1-101", "Plumbing")
    clock.now = day(5, 10)
    api.container.run_projections_once()
    return d


def get(api: Any, d: Desk, path: str, role: str = "quality_manager", **kw: Any) -> Any:
    params = {"min_position": d.position, **kw.pop("params", {})}
    r = api.get(path, role=role, params=params, **kw)
    assert r.status_code == 200, r.text
    return r


def rows_of_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_category_kpis_equal_the_hand_count(api: Any, known: Desk) -> None:
    rows = get(
        api,
        known,
        "/kpis/tickets",
        params={"group_by": "project,category,month", "from": "2026-03", "to": "2026-03"},
    ).json()["rows"]
    p1 = {r["category"]: r for r in rows if r["project"] == "P1"}
    # received = every ticket received (R1 is a repair, A10 cancelled); complaints = not cancelled
    assert {c: (r["received"], r["complaints"], r["repeat_complaints"]) for c, r in p1.items()} == {
        "engineering": (3, 2, 1),
        "security": (3, 3, 1),
        "other": (2, 2, 0),
        "attitude": (2, 2, 1),
        "charges": (1, 1, 0),
        "greening": (1, 0, 0),
        "cleaning": (0, 0, 0),  # F3 (February) is in March's backlog, nothing received
    }
    assert p1["cleaning"]["backlog"] == 1
    p2 = {r["category"]: r for r in rows if r["project"] == "P2"}
    assert {c: (r["complaints"], r["repeat_complaints"]) for c, r in p2.items()} == {
        "engineering": (3, 1)
    }
    # the same figures as CSV
    text = get(
        api,
        known,
        "/kpis/tickets",
        params={
            "group_by": "project,category,month",
            "from": "2026-03",
            "to": "2026-03",
            "format": "csv",
        },
    ).text
    csv_p1 = {
        r["category"]: (r["complaints"], r["repeat_complaints"])
        for r in rows_of_csv(text)
        if r["project"] == "P1"
    }
    assert csv_p1 == {c: (str(r["complaints"]), str(r["repeat_complaints"])) for c, r in p1.items()}


def test_category_filters_take_a_code_or_any_spelling(api: Any, known: Desk) -> None:
    base = {"group_by": "project,month", "project": "P1", "from": "2026-03", "to": "2026-03"}
    for spelling in ("security", "安保", "Security"):
        (row,) = get(api, known, "/kpis/tickets", params={**base, "category": spelling}).json()[
            "rows"
        ]
        assert (row["complaints"], row["repeat_complaints"]) == (3, 1), spelling
    (row,) = get(api, known, "/kpis/tickets", params={**base, "subcategory": "停车"}).json()["rows"]
    assert (row["complaints"], row["repeat_complaints"]) == (2, 1)
    # the unknown text a ticket was received with finds it (under other)
    (row,) = get(api, known, "/kpis/tickets", params={**base, "category": "月亮太亮"}).json()[
        "rows"
    ]
    assert row["complaints"] == 2
    rows = get(
        api,
        known,
        "/kpis/tickets",
        params={**base, "group_by": "subcategory", "category": "工程维修"},
    ).json()["rows"]
    assert {r["subcategory"]: r["received"] for r in rows} == {"engineering.plumbing_electrical": 3}


def test_monthly_analysis_equals_the_hand_count(api: Any, known: Desk) -> None:
    a = get(api, known, "/projects/P1/complaints/2026-03").json()
    assert a["previous_month"] == "2026-02" and a["kinds"] == ["complaint"]
    assert a["totals"] == {
        "complaints": 10,
        "previous_month": 3,
        "change": 7,
        "change_pct": 233.33,
        "repeat_complaints": 3,
        "closed": 2,  # A1, A4
        "closure_pct": 20.0,
        "satisfaction_pct": 66.67,  # A1, A4 satisfied; A3 not
        "categories": 5,
    }
    l1 = {r["code"]: r for r in a["by_category"]}
    assert [r["code"] for r in a["by_category"]][:1] == ["security"]
    assert {
        c: (r["complaints"], r["share_pct"], r["previous_month"], r["change_pct"])
        for c, r in l1.items()
    } == {
        "security": (3, 30.0, 0, None),
        "engineering": (2, 20.0, 1, 100.0),
        "other": (2, 20.0, 0, None),
        "attitude": (2, 20.0, 0, None),
        "charges": (1, 10.0, 0, None),
        "greening": (0, 0.0, 1, -100.0),
        "cleaning": (0, 0.0, 1, -100.0),
    }
    assert (
        l1["security"]["name"],
        l1["security"]["closure_pct"],
        l1["security"]["satisfaction_pct"],
    ) == (
        "安保",
        33.33,
        50.0,
    )
    assert (l1["engineering"]["closure_pct"], l1["engineering"]["satisfaction_pct"]) == (
        50.0,
        100.0,
    )
    assert l1["other"]["satisfaction_pct"] is None  # no callback reached
    l2 = {
        r["code"]: (r["complaints"], r["repeat_complaints"], r["name"])
        for r in a["by_subcategory"]
        if r["complaints"]
    }
    assert l2 == {
        "engineering.plumbing_electrical": (2, 1, "工程维修 › 水电"),
        "security": (1, 0, "安保"),
        "security.parking": (2, 1, "安保 › 车辆停放"),
        "other": (2, 0, "其他"),
        "attitude": (2, 1, "服务态度"),
        "charges.property_fee": (1, 0, "收费 › 物业费"),
    }
    n = known.numbers
    assert {(r["number"], r["repeat_of_number"], r["repeat_days"]) for r in a["repeats"]} == {
        (n["A2"], n["A1"], 29.0),
        (n["A5"], n["A4"], 1.0),
        (n["A9"], n["A8"], 2.0),
    }
    assert {(u["text"], u["complaints"]) for u in a["unknown_texts"]} == {
        ("月亮太亮", 1),
        ("the moon", 1),
    }
    # April: B1 came 31 days after A2 -> no repeat
    april = get(api, known, "/projects/P1/complaints/2026-04").json()
    assert (april["totals"]["complaints"], april["totals"]["repeat_complaints"]) == (1, 0)
    assert april["repeats"] == []


def test_monthly_analysis_as_csv_has_the_same_rows(api: Any, known: Desk) -> None:
    a = get(api, known, "/projects/P1/complaints/2026-03").json()
    text = get(api, known, "/projects/P1/complaints/2026-03", headers={"Accept": "text/csv"}).text
    rows = rows_of_csv(text)
    assert (
        rows[0]["code"] == "total"
        and rows[0]["complaints"] == "10"
        and rows[0]["repeat_complaints"] == "3"
    )
    by = {(r["level"], r["code"]): r for r in rows[1:]}
    for r in a["by_category"] + a["by_subcategory"]:
        got = by[(str(r["level"]), r["code"])]
        assert (got["complaints"], got["share_pct"], got["change"]) == (
            str(r["complaints"]),
            "" if r["share_pct"] is None else str(r["share_pct"]),
            str(r["change"]),
        )
    assert len(rows) == 1 + len(a["by_category"]) + len(a["by_subcategory"])
    repeats = rows_of_csv(
        get(
            api,
            known,
            "/projects/P1/complaints/2026-03",
            params={"format": "csv", "part": "repeats"},
        ).text
    )
    assert sorted(r["number"] for r in repeats) == sorted(r["number"] for r in a["repeats"])


def test_a_ticket_shows_its_classified_category(api: Any, known: Desk) -> None:
    r = get(api, known, f"/tickets/{known.numbers['A8']}", role="supervisor")
    body = r.json()
    assert body["category"] == "服务态度"  # as reclassified; the text stays as sent
    assert body["category_class"] == {
        "l1": "attitude",
        "l1_name": "服务态度",
        "l2": None,
        "l2_name": None,
        "code": "attitude",
        "path": "服务态度",
        "known": True,
    }
    r = get(api, known, f"/tickets/{known.numbers['A6']}", role="supervisor")
    assert (r.json()["category_class"]["code"], r.json()["category_class"]["known"]) == (
        "other",
        False,
    )


def test_top_categories_by_project_and_month(api: Any, known: Desk) -> None:
    rows = get(api, known, "/kpis/complaints/top", params={"month": "2026-03", "limit": 3}).json()[
        "rows"
    ]
    p1 = [
        (r["rank"], r["category"], r["complaints"], r["share_pct"])
        for r in rows
        if r["project"] == "P1"
    ]
    # security 3; then three categories with 2, ties broken by code: attitude, engineering
    assert p1 == [(1, "security", 3, 30.0), (2, "attitude", 2, 20.0), (3, "engineering", 2, 20.0)]
    assert {r["project"] for r in rows} == {"P1", "P2", "P3"}
    level2 = get(
        api, known, "/kpis/complaints/top", params={"month": "2026-03", "project": "P2", "level": 2}
    ).json()["rows"]
    assert [
        (r["category"], r["complaints"], r["share_pct"], r["repeat_complaints"]) for r in level2
    ] == [
        ("engineering.lifts", 2, 66.67, 1),
        ("engineering.plumbing_electrical", 1, 33.33, 0),
    ]
    # a regional quality manager sees the region's projects only
    scoped = get(
        api,
        known,
        "/kpis/complaints/top",
        role="quality_manager",
        region="SH",
        params={"month": "2026-03"},
    ).json()["rows"]
    assert {r["project"] for r in scoped} == {"P1", "P2"}


def test_repeats_list_and_scope(api: Any, known: Desk) -> None:
    n = known.numbers
    rows = get(
        api, known, "/kpis/complaints/repeats", params={"from": "2026-03-01", "to": "2026-04-30"}
    ).json()["rows"]
    assert [(r["number"], r["repeat_of_number"]) for r in rows] == [
        (n["A5"], n["A4"]),
        (n["A9"], n["A8"]),
        (n["C3"], n["C2"]),
        (n["A2"], n["A1"]),
    ]
    assert rows[-1]["unit"] == "1-101" and rows[-1]["category_path"] == "工程维修 › 水电"
    # a project-scoped reader: another project's analysis is not found
    r = api.get("/projects/P1/complaints/2026-03", role="reporting", projects=("P2",))
    assert r.status_code == 404, r.text
    # a role without kpi.read
    r = api.get("/projects/P1/complaints/2026-03", role="front_desk", projects=("P1",))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/projects/P1/complaints/2026-13", {}, "month"),
        ("/projects/P1/complaints/2026-03", {"kind": "gripe"}, "kind"),
        ("/projects/P1/complaints/2026-03", {"part": "everything"}, "part"),
        ("/kpis/complaints/top", {"month": "March"}, "month"),
        ("/kpis/complaints/top", {"month": "2026-03", "from": "2026-03-01"}, "month"),
        ("/kpis/complaints/repeats", {"from": "2026-04-01", "to": "2026-03-01"}, "from"),
    ],
)
def test_bad_parameters_are_named(
    api: Any, known: Desk, path: str, params: dict[str, str], field: str
) -> None:
    r = api.get(path, role="quality_manager", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_reporting_views_carry_the_category(api: Any, known: Desk) -> None:
    with psycopg.connect(api.container.url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT category, complaints, repeat_complaints FROM reporting.ticket_kpis_project_category_month"
            " WHERE project = 'P1' AND month = '2026-03' ORDER BY category"
        ).fetchall()
        facts = conn.execute(
            "SELECT category, category_code, category_known FROM reporting.ticket_facts WHERE number = %s",
            (known.numbers["A8"],),
        ).fetchone()
        columns = {
            r["column_name"]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'reporting' AND table_name = 'ticket_facts'"
            ).fetchall()
        }
    assert {r["category"]: (r["complaints"], r["repeat_complaints"]) for r in rows} == {
        "attitude": (2, 1),
        "charges": (1, 0),
        "engineering": (2, 1),
        "cleaning": (0, 0),
        "greening": (0, 0),
        "other": (2, 0),
        "security": (3, 1),
    }
    assert facts == {"category": "服务态度", "category_code": "attitude", "category_known": True}
    assert "reporter_unit" not in columns  # the unit identifies a household


def test_categories_lists_the_taxonomy_in_force(api: Any) -> None:
    r = api.get("/categories", role="front_desk", projects=("P1",))
    assert r.status_code == 200, r.text
    items = {i["code"]: i for i in r.json()["items"]}
    assert items["engineering.plumbing_electrical"]["name"] == "水电"
    assert items["other"]["level"] == 1


def test_a_rebuilt_view_has_the_same_categories_and_repeats(api: Any, known: Desk) -> None:
    query = (
        "SELECT number, category, category_code, category_known, reporter_unit, repeat_of,"
        " repeat_of_number, repeat_days FROM qt_read.ticket_facts ORDER BY number"
    )
    with psycopg.connect(api.container.url) as conn:
        before = conn.execute(query).fetchall()
    api.container.rebuild("kpi_tickets")
    with psycopg.connect(api.container.url) as conn:
        after = conn.execute(query).fetchall()
    assert after == before
    assert sum(1 for r in after if r[5] is not None) == 4  # A2, A5, A9, C3
