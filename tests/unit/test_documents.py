"""The document renderers on their own (no database): plain dicts of the documented
shapes in, PDF out, read back with pdftotext. Covers the renderers whose routes are wired
at merge (assessment, circular), the monthly report's assessment section (the extension
point), escaping, and page numbers over several pages."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from api.documents.assessment import assessment_sheet
from api.documents.circular import circular_sheet
from api.documents.frame import IssueSeal, LedgerHead, Provenance
from api.documents.inspection import inspection_report
from api.documents.monthly import monthly_report
from api.documents.notice import rectification_notice
from tests.pdftext import has_row, rows, squeezed

BUILT = datetime(2026, 4, 2, 1, 30, tzinfo=timezone.utc)


def text_of(data: bytes) -> str:
    return squeezed(data)


def sealed(number: str, version: int = 7) -> Provenance:
    return Provenance(
        built_at=BUILT,
        read_position=120,
        issues=(IssueSeal(number, version, 118, "a1" * 32, 90, 117, "b2" * 32),),
        ledger=LedgerHead(119, 120, "c3" * 32),
    )


ASSESSMENT: dict[str, Any] = {
    "id": "3f0c1c1e-0000-5000-8000-000000000001",
    "version": 4,
    "number": "AS-2026-000001",
    "project": "P1",
    "region": "SH",
    "period": "2026-03",
    "period_kind": "month",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "status": "published",
    "inputs": [
        {
            "kind": "regional_monthly",
            "number": "INS-2026-000004",
            "version": 9,
            "position": 77,
            "planned_for": "2026-03-10",
            "score": 88.0,
            "grade": "C",
            "weight": 1,
        }
    ],
    "deductions": [
        {
            "rule": "failed_recheck",
            "points": 5,
            "issue": {"id": "x", "number": "NC-2026-000002"},
            "position": 95,
            "at": "2026-03-20T02:00:00+00:00",
        },
        {
            "rule": "missed_self_check",
            "points": 5,
            "issue": {"id": "y", "number": "INS-2026-000006"},
            "position": 99,
            "at": "2026-03-09T15:59:59+00:00",
        },
    ],
    "result": {
        "base_score": 88.0,
        "deducted": 10.0,
        "score": 78.0,
        "grade": "D",
        "pay_adjustment_pct": -5,
    },
    "score": 78.0,
    "grade": "D",
    "pay_adjustment_pct": -5,
    "responsible": [
        {"name": "刘洋", "role": "project_manager"},
        {"name": "王强", "role": "direct_manager"},
    ],
    "pay_adjustments": [
        {"name": "刘洋", "role": "project_manager", "pay_adjustment_pct": -5},
        {"name": "王强", "role": "direct_manager", "pay_adjustment_pct": -5},
    ],
    "reviewed": {
        "by": {"id": "qm", "name": "周敏", "role": "quality_manager"},
        "at": "2026-04-01T02:00:00+00:00",
    },
    "approved": {
        "by": {"id": "gm", "name": "赵总", "role": "general_manager"},
        "at": "2026-04-01T03:00:00+00:00",
    },
    "published_at": "2026-04-01T04:00:00+00:00",
    "appeal": None,
}


def test_the_assessment_sheet_prints_inputs_deductions_result_and_who_carries_it() -> None:
    data = assessment_sheet(ASSESSMENT, sealed("AS-2026-000001", 4))
    text, lines = text_of(data), rows(data)
    assert "品质考核结果" in text and "AS-2026-000001" in text
    # 88 − (5 + 5) = 78 → D, −5%.
    assert "考核结果88−1078D-5%检查得分扣分考核得分等级绩效工资调整" in text
    # Each input and deduction with the store position of the event it came from.
    assert has_row(lines, "INS-2026-000004", "城市公司月度检查", "2026-03-10", 88, "C", 1, 77)
    assert has_row(lines, "复检未通过", "NC-2026-000002", "2026-03-20 10:00", 5, 95)
    assert has_row(lines, "未按期自检", "INS-2026-000006", "2026-03-09 23:59", 5, 99)
    assert has_row(lines, "刘洋", "项目经理", "-5%") and has_row(
        lines, "王强", "直属管理人员", "-5%"
    )
    assert "复核周敏（2026-04-0110:00）批准（总经理）赵总（2026-04-0111:00）" in text
    assert "已发布（published）" in text
    assert "v4（事件1–4，位置90–118）" in text


def test_the_monthly_report_prints_the_assessment_it_is_given() -> None:
    report = {
        "project": {"code": "P1", "name": "静安花园", "region": "SH", "households": 800},
        "month": "2026-03",
        "period": {"start": "2026-03-01", "end": "2026-03-31"},
        "inspections": [],
        "nonconformances": {"kpi": {"raised": 0}, "open": []},
        "tickets": {"received": 12, "sla_met_pct": 91.67},
        "csi": None,
        "assessment": ASSESSMENT,
    }
    data = monthly_report(report, Provenance(built_at=BUILT, read_position=120))
    text, lines = text_of(data), rows(data)
    assert "考核编号AS-2026-000001状态已发布（published）基础得分88扣分10考核得分78等级D" in text
    assert (
        "绩效工资调整-5%" in text
        and has_row(lines, "复检未通过", "NC-2026-000002", 5)
        and has_row(lines, "未按期自检", "INS-2026-000006", 5)
    )
    assert "受理工单12" in text and "SLA达成率91.67%" in text
    assert "本月考核尚未发布" not in text and "静安花园" in text
    report["assessment"] = None
    assert "本月考核尚未发布" in text_of(monthly_report(report, Provenance(built_at=BUILT)))


def test_the_circular_prints_its_text_the_nonconformance_and_the_read_receipts() -> None:
    circular = {
        "number": "TB-2026-000001",
        "title": "关于P1项目整改未完成的通报",
        "text": "经复检，P1项目消防通道堆放杂物整改未完成，现予全公司通报。",
        "origin": "automatic",
        "project": "P1",
        "nonconformance": {"id": "x", "number": "NC-2026-000002"},
        "raised_at": "2026-03-20T02:00:00+00:00",
        "receipts": [
            {"id": "u1", "name": "李娜", "role": "front_desk", "at": "2026-03-20T03:00:00+00:00"}
        ],
    }
    data = circular_sheet(circular, sealed("TB-2026-000001", 2))
    text = text_of(data)
    assert "全公司通报" in text and "关于P1项目整改未完成的通报" in text
    assert "现予全公司通报" in text and "NC-2026-000002" in text and "复检未通过自动通报" in text
    assert has_row(rows(data), "李娜", "front_desk", "2026-03-20 11:00")  # in company time


def test_recorded_text_is_printed_as_text_never_as_markup() -> None:
    nc = {
        "number": "NC-2026-000009",
        "project": "P1",
        "severity": "minor",
        "description": '<b>粗体</b> & "引号" <script>x</script>',
        "notice_count": 1,
        "responsible_person": "</td><td>王</td>",
    }
    text = text_of(rectification_notice(nc, sealed("NC-2026-000009", 1)))
    assert '<b>粗体</b>&"引号"<script>x</script>' in text
    assert "</td><td>王</td>" in text


def test_a_long_inspection_runs_over_pages_each_numbered_with_the_seal_in_its_footer() -> None:
    items = [
        {
            "section": f"S{n // 10}",
            "section_name": f"第{n // 10 + 1}部分",
            "code": f"IT-{n:03d}",
            "requirement": "设施设备完好，记录完整" * 2,
            "max_points": 5,
            "critical": False,
            "points": 5 if n % 7 else 2,
            "result": "pass" if n % 7 else "fail",
            "finding": None if n % 7 else f"第{n}项问题",
        }
        for n in range(90)
    ]
    ins = {
        "number": "INS-2026-000100",
        "project": "P1",
        "kind": "company_quarterly",
        "items": items,
        "score": 93.33,
        "grade": "B",
        "pay_adjustment_pct": 5,
    }
    data = inspection_report(ins, sealed("INS-2026-000100", 95))
    text = text_of(data)
    pages = re.findall(r"第(\d+)页/共(\d+)页", text)
    assert len(pages) >= 3 and all(total == pages[0][1] for _, total in pages)
    assert [int(p) for p, _ in pages] == list(range(1, len(pages) + 1))
    assert text.count(
        "INS-2026-000100v95·位置118·事件哈希a1a1a1a1a1a1·总账#119c3c3c3c3c3c3"
    ) == len(pages)
    assert "IT-089" in text and "第84项问题" in text


def test_an_event_the_ledger_has_not_sealed_yet_is_printed_as_such() -> None:
    unsealed = Provenance(
        built_at=BUILT,
        issues=(IssueSeal("NC-2026-000010", 3, 55, "d4" * 32, 50),),
        ledger=LedgerHead(54, 54, "e5" * 32),
    )
    nc = {"number": "NC-2026-000010", "project": "P1", "severity": "minor", "notice_count": 1}
    text = text_of(rectification_notice(nc, unsealed))
    assert "NC-2026-000010总账封存尚未封存（见下方总账链头）" in text
    assert "总账链头#54（位置54）" + "e5" * 32 in text
    assert "v3（事件1–3，位置50–55）" in text


def test_a_closed_nonconformance_is_stamped_closed_with_its_verification_and_closing() -> None:
    nc = {
        "number": "NC-2026-000011",
        "project": "P1",
        "severity": "major",
        "status": "closed",
        "notice_count": 1,
        "plan_status": "approved",
        "rectification": {"summary": "全部清运", "evidence": ["img/after.jpg"]},
        "verifications": [
            {"effective": True, "notes": "已清理", "at": "2026-03-05T02:00:00+00:00", "by": "周敏"}
        ],
        "disposition": "rework",
        "closed_at": "2026-03-05T02:00:00+00:00",
        "closed_on_time": True,
    }
    data = rectification_notice(nc, sealed("NC-2026-000011", 9))
    text = text_of(data)
    assert "已关闭" in text and "措施审批已批准" in text and "img/after.jpg" in text
    assert has_row(rows(data), 1, "2026-03-05 10:00", "周敏", "有效", "已清理")
    assert "处置方式返工（rework）关闭时间2026-03-0510:00按期关闭是" in text


def test_documents_rendered_at_once_in_several_threads_each_hold_their_own_content() -> None:
    """Routes render in FastAPI's thread pool: concurrent renders must not mix up."""
    from concurrent.futures import ThreadPoolExecutor

    def notice(n: int) -> bytes:
        nc = {"number": f"NC-2026-{n:06d}", "project": f"P{n}", "description": f"第{n}号问题"}
        return rectification_notice(nc, sealed(f"NC-2026-{n:06d}", n))

    with ThreadPoolExecutor(4) as pool:
        texts = [text_of(d) for d in pool.map(notice, range(1, 9))]
    for n, text in enumerate(texts, 1):
        assert f"NC-2026-{n:06d}v{n}·位置118" in text and f"第{n}号问题" in text
        assert all(f"第{m}号问题" not in text for m in range(1, 9) if m != n)
