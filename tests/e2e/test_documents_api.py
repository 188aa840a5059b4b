"""Printable documents over HTTP (issue #15 item 4): each PDF is turned back into text
with pdftotext and must carry the same figures as the JSON and the store — Chinese text,
scores, grades, CSI and its interval — plus the store position, the issue's event hash
and the ledger entry it was built from. Out of scope is 404 exactly like the JSON."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.test_inspections_api import PM as INS_PM
from tests.e2e.test_inspections_api import published_template, schedule
from tests.e2e.test_nonconformance_lifecycle import PM, QM, raise_and_approve
from tests.e2e.test_survey_campaign import DESK, PLAN, QM1, QM2
from tests.pdftext import has_row, rows, squeezed

PDF_HEAD = b"%PDF-"


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def pdf_text(data: bytes) -> str:
    return squeezed(data)


def fonts(data: bytes) -> str:
    return subprocess.run(
        ["pdffonts", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def first_page_png(data: bytes, name: str) -> Path:
    """Page 1 as a PNG (pdftoppm): into a temporary folder, or into docs/screenshots
    with `QUALTRACE_SCREENSHOTS=docs/screenshots` (the README shows it)."""
    folder = Path(os.environ.get("QUALTRACE_SCREENSHOTS") or tempfile.mkdtemp())
    stem = folder / name
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", "-", str(stem)],
        input=data,
        check=True,
    )
    return stem.with_suffix(".png")


def get_pdf(api: Any, path: str, role: str = "auditor", **kw: Any) -> tuple[bytes, Any]:
    r = api.get(path, role=role, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return r.content, r


def store_row(api: Any, number: str) -> dict[str, Any]:
    """The issue's last stored event and the ledger entry sealing it, read directly."""
    with psycopg.connect(api.container.url) as conn:
        row = conn.execute(
            """SELECT e.notification_id, e.event_hash, e.originator_version, l.seq, l.chain_hash
                 FROM qualtrace_events e JOIN qt_read.issues i ON i.id = e.originator_id
                 LEFT JOIN qt_read.ledger l ON l.position = e.notification_id
                WHERE i.number = %s ORDER BY e.originator_version DESC LIMIT 1""",
            (number,),
        ).fetchone()
    assert row is not None
    return dict(zip(("position", "event_hash", "version", "seq", "chain_hash"), row, strict=True))


def event_count(api: Any) -> int:
    with psycopg.connect(api.container.url) as conn:
        row = conn.execute("SELECT count(*) FROM qualtrace_events").fetchone()
    assert row is not None
    return int(row[0])


def test_a_rectification_notice_carries_the_recorded_nonconformance_and_its_store_seal(
    api: Any,
) -> None:
    api.setup_org()
    nc = raise_and_approve(api)
    ref = nc["number"]
    ok(api.post(f"/nonconformances/{ref}/rectified", {"summary": "清理了一半"}, **PM))
    r = ok(
        api.post(
            f"/nonconformances/{ref}/verification", {"effective": False, "notes": "仍有杂物"}, **QM
        )
    )
    view = ok(api.get(f"/nonconformances/{ref}", params={"min_position": r["position"]}))
    data, resp = get_pdf(
        api, f"/nonconformances/{ref}/document.pdf", params={"min_position": r["position"]}
    )
    text = pdf_text(data)
    assert "整改通知书" in text and ref in text
    # What was recorded: description, responsible, actions, the failed re-check, notice 2.
    for expected in (
        "消防通道堆放杂物",
        "WangQiang",
        "秩序部",
        "巡查制度未落实",
        "1.清理杂物",
        "1.每日巡查消防通道",
        "清理了一半",
        "仍有杂物",
        "未完成整改",
        f"第{view['notice_count']}次",
        "区域级",
        "是（下次考核扣分）",
        "在全公司范围内进行通报",
    ):
        assert expected in text, expected
    assert view["notice_count"] == 2
    # The seal: the version printed, its store position and event hash, the ledger entry.
    seal = store_row(api, ref)
    assert seal["version"] == view["version"]
    assert f"v{seal['version']}（事件1–{seal['version']}" in text
    assert seal["event_hash"] in text
    assert seal["seq"] is not None and f"#{seal['seq']}{seal['chain_hash']}" in text
    assert f"{ref}v{seal['version']}·位置{seal['position']}" in text  # every page's footer
    assert re.search(r"第1页/共\d+页", text)
    assert int(resp.headers["X-Read-Position"]) >= r["position"]
    # A subset of Noto Sans CJK is embedded.
    listing = fonts(data)
    assert "NotoSansCJK" in listing.replace("-", "") and " yes yes " in listing


def test_an_inspection_report_prints_items_scores_findings_grade_pay_and_signatures(
    api: Any,
) -> None:
    api.setup_org()
    template = published_template(api)
    ref = ok(schedule(api, template, INS_PM), 201)["number"]
    ok(api.post(f"/inspections/{ref}/start", **INS_PM))
    for s in (
        {"item": "CS-01", "points": 10, "result": "pass"},
        {"item": "CS-02", "points": 4, "result": "fail", "finding": "3月2日投诉超48小时未回复"},
        {"item": "SEC-01", "points": 6, "result": "pass"},
        {"item": "SEC-02", "points": 6, "result": "fail", "finding": "B1消防通道堆放杂物"},
        {"item": "SEC-01", "points": 8, "result": "pass", "reason": "巡逻记录补充页已找到"},
    ):
        ok(api.post(f"/inspections/{ref}/scores", s, **INS_PM))
    sub = ok(api.post(f"/inspections/{ref}/submit", **INS_PM))
    # (10 + 4 + 8 + 6) / 40 = 70 → E, −10% (the grading bands printed with it).
    assert (sub["score"], sub["grade"], sub["pay_adjustment_pct"]) == (70.0, "E", -10)
    data, _ = get_pdf(
        api,
        f"/inspections/{ref}/document.pdf",
        role="quality_manager",
        params={"min_position": sub["position"]},
    )
    text = pdf_text(data)
    assert "品质检查报告" in text and ref in text and "项目月度自检" in text
    # Score, grade, pay adjustment, awarded / applicable points, failed items.
    assert "检查结果70E-10%28/402得分（百分制）等级绩效工资调整实得分/适用满分不合格项" in text
    # Each item with its points and result, findings, the raised nonconformances.
    lines = rows(data)
    assert has_row(lines, "CS-02", "投诉24小时内回复（关键项）", 10, 4, "不合格", "3月2日投诉")
    assert "3月2日投诉超48小时未回复" in text
    assert has_row(lines, "SEC-01", "夜间巡逻记录完整", 10, 8, "合格", "—", "Liu Yang")
    assert "LiuYang（改分1次）" in text  # rescored 6 → 8, the first score kept in history
    for nc in sub["nonconformances"]:
        assert nc["number"] in text
    assert has_row(lines, 95, "A", "+10%") and has_row(lines, 75, "D", "-5%")
    assert has_row(lines, 70, "E", "-10%", "28 / 40", 2)
    assert "检查人" in text and "项目负责人（确认）" in text and "签字：" in text
    seal = store_row(api, ref)
    assert seal["event_hash"] in text and f"位置{seal['position']}" in text
    png = first_page_png(data, "document-inspection-report")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def _campaign(
    api: Any,
    answers: list[dict[str, Any]],
    publish: bool = True,
    projects: tuple[str, ...] = ("P1",),
) -> dict[str, Any]:
    plan = {**PLAN, "party": "first_party", "agency": None, "projects": list(projects)}
    ref = ok(api.post("/surveys", plan, **QM1), 201)["number"]
    ok(api.post(f"/surveys/{ref}/submit", {}, **QM1))
    ok(api.post(f"/surveys/{ref}/decision", {"approved": True}, **QM2))
    ok(api.post(f"/surveys/{ref}/open", {}, **QM1))
    last = None
    for n, a in enumerate(answers):
        body = {
            "respondent_ref": f"H-{n}",
            "project": projects[n % len(projects)],
            "segment": "owner",
            "method": "web",
            "answers": a,
        }
        last = ok(api.post(f"/surveys/{ref}/responses", body, **DESK), 201)
    if not publish:
        return {"number": ref, "position": last["position"] if last else 0}
    ok(api.post(f"/surveys/{ref}/close", {}, **QM1))
    return ok(api.post(f"/surveys/{ref}/publish", {}, **QM1))


def test_a_csi_report_prints_the_published_figures_interval_dimensions_and_trend(
    api: Any,
) -> None:
    api.setup_org()
    first = _campaign(api, [{"Q1": 4, "Q2": 4, "OV": 4}])
    second = _campaign(
        api,
        [{"Q1": 4, "Q2": 4, "OV": 4}, {"Q1": 5, "Q2": 3, "OV": 5}, {"Q1": 3, "Q2": 4, "OV": 4}],
    )
    res = second["results"]
    assert (res["csi"], res["ci95"], res["n"]) == (75.0, {"low": 60.85, "high": 89.15}, 3)
    data, _ = get_pdf(
        api,
        f"/surveys/{second['number']}/document.pdf",
        role="reporting",
        params={"min_position": second["position"]},
    )
    text = pdf_text(data)
    assert "客户满意度调查报告" in text and "2026第三方满意度调查" in text
    assert "CSI客户满意度指数7595%置信区间60.85–89.15" in text
    assert "CLI客户忠诚度指数100与目标差距-12有效样本n3" in text
    # By dimension: CSI and interval of each (service 75 [46.71, 100], value 66.67 ...).
    by_dim = res["by_dimension"]
    lines = rows(data)
    assert by_dim["service"]["ci95"] == {"low": 46.71, "high": 100.0}
    assert has_row(lines, "服务质量", 3, 75, "46.71 – 100", "66.67%")
    assert has_row(lines, "性价比", 3, 66.67, "50.33 – 83", "66.67%")
    assert has_row(lines, "总体", 3, 83.33, "67 – 99.67", "100%")
    # By question, with the answers' distribution 1..5.
    assert has_row(lines, "Q2", "性价比", "性价比", 1, 3, 3.67, 66.67, 0, 0, 1, 2, 0)
    # Trend: the first campaign (CSI 75, one answer) then this one, and the change.
    assert f"{first['number']}" in text and "与上次调查" in text
    assert has_row(lines, first["number"]) and has_row(lines, 1, 75, 100)
    assert (
        f"CSI变化{res['previous']['csi_change']:g}，CLI变化{res['previous']['cli_change']:g}"
        in text
    )
    assert "临时结果" not in text
    # A campaign still open prints its provisional figures, stamped as such.
    open_one = _campaign(api, [{"Q1": 5, "Q2": 5, "OV": 5}], publish=False)
    data, _ = get_pdf(
        api,
        f"/surveys/{open_one['number']}/document.pdf",
        params={"min_position": open_one["position"]},
    )
    text = pdf_text(data)
    assert "临时结果" in text and "未发布" in text and "CSI客户满意度指数100" in text


def test_the_trend_of_a_csi_report_shows_only_campaigns_in_the_callers_scope(api: Any) -> None:
    api.setup_org()
    p2_only = _campaign(api, [{"Q1": 2, "Q2": 2, "OV": 2}], projects=("P2",))
    both = _campaign(
        api, [{"Q1": 4, "Q2": 4, "OV": 4}, {"Q1": 5, "Q2": 5, "OV": 5}], projects=("P1", "P2")
    )
    path = f"/surveys/{both['number']}/document.pdf"
    wait = {"min_position": both["position"]}
    company, _ = get_pdf(api, path, role="quality_manager", params=wait)
    assert p2_only["number"] in pdf_text(company)
    region, _ = get_pdf(api, path, role="supervisor", region="SH", params=wait)
    assert p2_only["number"] in pdf_text(region)
    pm_p1, _ = get_pdf(api, path, role="project_manager", projects=("P1",), params=wait)
    text = pdf_text(pm_p1)
    assert p2_only["number"] not in text and both["number"] in text


def test_the_monthly_report_of_a_project_gathers_inspections_open_ncs_tickets_and_csi(
    api: Any,
) -> None:
    api.setup_org()
    template = published_template(api)
    ref = ok(schedule(api, template, INS_PM), 201)["number"]
    ok(api.post(f"/inspections/{ref}/start", **INS_PM))
    for item, pts in (("CS-01", 10), ("CS-02", 10), ("SEC-01", 10), ("SEC-02", 8)):
        ok(
            api.post(
                f"/inspections/{ref}/scores",
                {"item": item, "points": pts, "result": "pass"},
                **INS_PM,
            )
        )
    sub = ok(api.post(f"/inspections/{ref}/submit", **INS_PM))
    assert (sub["score"], sub["grade"]) == (95.0, "A")
    nc = raise_and_approve(api)
    ticket = {
        "project": "P1",
        "kind": "repair",
        "channel": "phone",
        "priority": "high",
        "category": "水电维修",
        "description": "厨房水管漏水",
        "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
    }
    ok(api.post("/tickets", ticket, role="front_desk"), 201)
    ok(api.post("/tickets", {**ticket, "project": "P2"}, role="front_desk"), 201)
    pub = _campaign(api, [{"Q1": 4, "Q2": 4, "OV": 4}, {"Q1": 5, "Q2": 5, "OV": 5}])
    data, resp = get_pdf(
        api,
        "/projects/P1/reports/2026-03/document.pdf",
        role="quality_manager",
        params={"min_position": pub["position"]},
    )
    text = pdf_text(data)
    assert "月度品质报告" in text and "P1ProjectP1" in text and "2026-03-01至2026-03-31" in text
    assert "本月考核尚未发布" in text  # the Assessment's section, until it is wired
    assert "本月检查1次，已评分1次，平均得分95" in text
    lines = rows(data)
    assert has_row(lines, ref, "项目月度自检", "2026-03-05", "已提交", 95, "A", 0, 0)
    assert has_row(
        lines,
        nc["number"],
        "严重",
        "措施已批准",
        "秩序部",
        "Wang Qiang",
        "2026-03-09 23:59",
        "否",
        1,
    )
    assert "本月提出1" in text and "当前未关闭1" in text
    assert "受理工单1" in text  # P2's ticket is not P1's
    csi = pub["results"]["by_project"]["P1"]
    assert f"本项目CSI{csi['csi']:g}" in text and pub["number"] in text
    assert f"读模型位置已处理至存储位置{resp.headers['X-Read-Position']}" in text
    # A month with nothing in it still prints, with empty sections.
    data, _ = get_pdf(api, "/projects/P1/reports/2026-02/document.pdf", role="auditor")
    text = pdf_text(data)
    assert "本月无检查" in text and "受理工单0" in text


def test_documents_keep_the_json_scopes_and_refuse_bad_input_recording_nothing(api: Any) -> None:
    api.setup_org()
    nc = raise_and_approve(api)  # in P1
    ref = nc["number"]
    before = event_count(api)
    p2 = {"role": "project_manager", "user": "p2.pm", "name": "P2 PM", "projects": ("P2",)}
    # Another project's issue answers exactly like one that does not exist.
    other = api.get(f"/nonconformances/{ref}/document.pdf", **p2)
    missing = api.get("/nonconformances/NC-2026-999999/document.pdf", **p2)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json() or other.json()["detail"] == missing.json()["detail"]
    assert api.get(f"/nonconformances/{ref}", **p2).status_code == 404
    # The monthly report: another project is 404 like an unknown one; bad months are 422.
    r = api.get("/projects/P1/reports/2026-03/document.pdf", **p2)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert api.get("/projects/NOPE/reports/2026-03/document.pdf", **p2).status_code == 404
    monthly = "/projects/P1/reports/2026-03/document.pdf"
    assert api.get(monthly, role="quality_manager", region="SH").status_code == 200
    assert api.get(monthly, role="quality_manager", region="BJ").status_code == 404
    r = api.get("/projects/P2/reports/2026-13/document.pdf", **p2)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "month", r.text
    r = api.get("/projects/P2/reports/2027-01/document.pdf", **p2)
    assert r.status_code == 422 and "has not begun" in r.text
    # A role without the read action is refused.
    assert (
        api.get("/projects/P1/reports/2026-03/document.pdf", role="front_desk").status_code == 403
    )
    assert api.get(f"/nonconformances/{ref}/document.pdf", role="admin").status_code == 403
    assert event_count(api) == before
