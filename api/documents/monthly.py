"""The monthly quality report (月度品质报告) of one project.

It takes one plain dict, gathered by `api/routes/documents.py` from the read models:

    project      {code, name, region, households}
    month        "YYYY-MM"
    period       {start, end}                       (local dates, inclusive)
    inspections  [row of GET /inspections?project=&month=]
    nonconformances {kpi: {raised, closed, closed_on_time_pct, ...},
                     open: [row of GET /nonconformances, not closed or cancelled]}
    tickets      {received, resolved, response_sla_met_pct, resolution_sla_met_pct,
                  sla_met_pct, sla_breaches, callback_rate_pct, satisfaction_pct, ...}
    csi          None | {number, title, published_at, n, csi, ci95, cli, period_start, period_end}
    assessment   None | the assessment's JSON (GET /assessments/{id}), see `assessment_section`

The assessment section prints the month's published assessment; when the route passes
None the report says no assessment has been published for the month.
"""

from __future__ import annotations

from typing import Any

from api.documents.frame import (
    Document,
    Provenance,
    e,
    fields,
    fmt_number,
    render,
    section,
    signatures,
    signed_pct,
    table,
)
from api.documents.labels import both, label


def _pct(value: Any) -> str:
    return "—" if value is None else f"{fmt_number(value)}%"


def assessment_section(a: dict[str, Any] | None) -> str:
    """考核结果: the project's published assessment of the month, or a line saying there
    is none yet. `a` is the assessment as `GET /assessments/{id}` returns it."""
    if not a:
        return section("考核结果", '<p class="muted">本月考核尚未发布。</p>')
    result = a.get("result") or {}
    head = fields(
        [
            ("考核编号", a.get("number")),
            ("状态", both("assessment_status", a.get("status"))),
            ("基础得分", fmt_number(result.get("base_score"))),
            ("扣分", fmt_number(result.get("deducted"))),
            ("考核得分", fmt_number(a.get("score", result.get("score")))),
            ("等级", a.get("grade", result.get("grade"))),
            (
                "绩效工资调整",
                signed_pct(a.get("pay_adjustment_pct", result.get("pay_adjustment_pct"))),
            ),
        ]
    )
    deductions = table(
        ["扣分原因", "事项", "分值"],
        [
            (
                label("deduction_rule", d.get("rule")),
                (d.get("issue") or {}).get("number"),
                fmt_number(d.get("points")),
            )
            for d in a.get("deductions") or []
        ],
        numeric=(2,),
        empty="无扣分",
    )
    return section("考核结果", head + deductions)


def monthly_report(report: dict[str, Any], provenance: Provenance) -> bytes:
    return render(monthly_document(report, provenance))


def monthly_document(report: dict[str, Any], provenance: Provenance) -> Document:
    t = provenance.local
    project = report.get("project") or {}
    period = report.get("period") or {}
    inspections = report.get("inspections") or []
    scored = [i for i in inspections if i.get("score") is not None]
    mean = sum(float(i["score"]) for i in scored) / len(scored) if scored else None
    head = fields(
        [
            ("项目", f"{project.get('code')} {project.get('name') or ''}".strip()),
            ("区域", project.get("region")),
            ("报告月份", report.get("month")),
            ("统计期间", f"{period.get('start')} 至 {period.get('end')}"),
            ("户数", project.get("households")),
            ("截至", t(provenance.built_at)),
        ]
    )
    ins_table = table(
        ["编号", "类型", "计划日期", "状态", "得分", "等级", "不合格项", "提出不合格"],
        [
            (
                i.get("number"),
                label("inspection_kind", i.get("kind")),
                i.get("planned_for"),
                label("inspection_status", i.get("status")),
                fmt_number(i.get("score")) if i.get("score") is not None else None,
                i.get("grade"),
                i.get("items_failed"),
                i.get("nonconformances_raised"),
            )
            for i in inspections
        ],
        numeric=(4, 6, 7),
        empty="本月无检查",
    )
    ins_summary = (
        f"<p>本月检查 <b>{len(inspections)}</b> 次，已评分 <b>{len(scored)}</b> 次，"
        f"平均得分 <b>{e(fmt_number(mean))}</b>。</p>"
    )
    ncs = report.get("nonconformances") or {}
    kpi = ncs.get("kpi") or {}
    open_rows = ncs.get("open") or []
    nc_summary = fields(
        [
            ("本月提出", kpi.get("raised", 0)),
            ("本月关闭", kpi.get("closed", 0)),
            ("按期关闭率", _pct(kpi.get("closed_on_time_pct"))),
            ("再次通知", kpi.get("re_noticed", 0)),
            ("当前未关闭", len(open_rows)),
            ("其中逾期", sum(1 for r in open_rows if r.get("overdue"))),
        ]
    )
    open_table = table(
        ["编号", "严重程度", "状态", "责任部门", "责任人", "整改期限", "逾期", "通知次数"],
        [
            (
                r.get("number"),
                label("severity", r.get("severity")),
                label("nc_status", r.get("status")),
                label("department", r.get("department")),
                r.get("responsible_person"),
                t(r.get("due_date")),
                r.get("overdue"),
                r.get("notice_count"),
            )
            for r in open_rows
        ],
        numeric=(7,),
        empty="无未关闭的不合格",
    )
    tk = report.get("tickets") or {}
    tickets = fields(
        [
            ("受理工单", tk.get("received", 0)),
            ("已解决", tk.get("resolved", 0)),
            ("响应及时率", _pct(tk.get("response_sla_met_pct"))),
            ("处理及时率", _pct(tk.get("resolution_sla_met_pct"))),
            ("SLA 达成率", _pct(tk.get("sla_met_pct"))),
            ("SLA 超时", tk.get("sla_breaches", 0)),
            ("回访率", _pct(tk.get("callback_rate_pct"))),
            ("回访满意率", _pct(tk.get("satisfaction_pct"))),
            ("重开率", _pct(tk.get("reopen_rate_pct"))),
            ("升级至品质部", tk.get("escalations", 0)),
        ]
    )
    csi = report.get("csi")
    if csi:
        ci = csi.get("ci95") or {}
        csi_html = fields(
            [
                ("调查", f"{csi.get('number')} {csi.get('title')}"),
                ("期间", f"{csi.get('period_start')} 至 {csi.get('period_end')}"),
                ("本项目样本", csi.get("n")),
                ("本项目 CSI", fmt_number(csi.get("csi"))),
                (
                    "95% 区间",
                    f"{fmt_number(ci.get('low'))} – {fmt_number(ci.get('high'))}" if ci else "—",
                ),
                ("本项目 CLI", fmt_number(csi.get("cli"))),
            ]
        )
    else:
        csi_html = '<p class="muted">截至本月末无已发布的满意度调查。</p>'
    body = [
        section("基本信息", head),
        assessment_section(report.get("assessment")),
        section("品质检查", ins_summary + ins_table),
        section("不合格与整改", nc_summary + open_table),
        section("客户服务工单（SLA）", tickets),
        section("客户满意度（最近一次已发布调查）", csi_html),
        section("签字", signatures(["编制：品质管理部", "审核：项目经理", "批准：总经理"])),
    ]
    return Document(
        title="月度品质报告",
        number=f"{project.get('code')} {report.get('month')}",
        subtitle=f"项目 {project.get('code')} · {report.get('month')}",
        body="".join(body),
        provenance=provenance,
    )
