"""The assessment sheet (考核结果通知) of a project's month or quarter, from the
assessment's JSON (`GET /assessments/{id}`: number, project, period, period_kind,
period_start, period_end, status, inputs[], deductions[], policy, result{base_score,
deducted, score, grade, pay_adjustment_pct}, responsible[], pay_adjustments[],
reviewed, approved, published_at, appeal). Route: `GET /assessments/{id}/document.pdf`."""

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


def _who(v: Any, provenance: Provenance) -> Any:
    """`{by: {name}, at}` → `周敏（2026-04-01 10:00）` in company time."""
    if isinstance(v, dict):
        by = v.get("by")
        name = by.get("name") if isinstance(by, dict) else by
        return f"{name}（{provenance.local(v.get('at'))}）" if name else None
    return v


def assessment_sheet(a: dict[str, Any], provenance: Provenance) -> bytes:
    return render(assessment_document(a, provenance))


def assessment_document(a: dict[str, Any], provenance: Provenance) -> Document:
    t = provenance.local
    result = a.get("result") or {}
    head = fields(
        [
            ("项目", a.get("project")),
            ("区域", a.get("region")),
            ("考核期间", f"{a.get('period')}（{a.get('period_start')} 至 {a.get('period_end')}）"),
            ("状态", both("assessment_status", a.get("status"))),
            ("复核", _who(a.get("reviewed"), provenance)),
            ("批准（总经理）", _who(a.get("approved"), provenance)),
            ("发布时间", t(a.get("published_at"))),
        ]
    )
    figures = (
        '<div class="figures">'
        f'<div class="figure"><div class="v">{e(fmt_number(result.get("base_score")))}</div><div class="l">检查得分</div></div>'
        f'<div class="figure"><div class="v">−{e(fmt_number(result.get("deducted")))}</div><div class="l">扣分</div></div>'
        f'<div class="figure"><div class="v">{e(fmt_number(a.get("score", result.get("score"))))}</div><div class="l">考核得分</div></div>'
        f'<div class="figure"><div class="v">{e(a.get("grade", result.get("grade")))}</div><div class="l">等级</div></div>'
        f'<div class="figure"><div class="v">{e(signed_pct(a.get("pay_adjustment_pct", result.get("pay_adjustment_pct"))))}</div><div class="l">绩效工资调整</div></div>'
        "</div>"
    )
    inputs = table(
        ["编号", "类型", "日期", "得分", "等级", "权重", "存储位置"],
        [
            (
                i.get("number"),
                label("inspection_kind", i.get("kind")) if i.get("kind") else "月度考核",
                i.get("planned_for") or i.get("period"),
                fmt_number(i.get("score")),
                i.get("grade"),
                fmt_number(i.get("weight")),
                i.get("position"),
            )
            for i in a.get("inputs") or []
        ],
        numeric=(3, 5, 6),
        empty="无计入的检查",
    )
    deductions = table(
        ["扣分原因", "事项", "时间", "分值", "存储位置"],
        [
            (
                label("deduction_rule", d.get("rule")),
                (d.get("issue") or {}).get("number"),
                t(d.get("at")),
                fmt_number(d.get("points")),
                d.get("position"),
            )
            for d in a.get("deductions") or []
        ],
        numeric=(3, 4),
        empty="无扣分",
    )
    people = table(
        ["责任人", "职责", "绩效工资调整"],
        [
            (
                p.get("name"),
                label("responsible_role", p.get("role")),
                signed_pct(p.get("pay_adjustment_pct")),
            )
            for p in a.get("pay_adjustments") or a.get("responsible") or []
        ],
        numeric=(2,),
    )
    body = [
        section("基本信息", head),
        section("考核结果", figures),
        section("计入的检查（每项以其事件存储位置标明）", inputs),
        section("扣分", deductions),
        section("奖惩（直属管理人员负相关管理责任）", people),
    ]
    appeal = a.get("appeal")
    if appeal:
        decision = appeal.get("decision") or {}
        body.append(
            section(
                "二级申诉（总经理裁决为终局）",
                fields(
                    [
                        ("申诉理由", appeal.get("reason")),
                        ("申诉人", _who(appeal, provenance)),
                        (
                            "裁决",
                            None
                            if not decision
                            else ("接受" if decision.get("accepted") else "驳回"),
                        ),
                        ("裁决理由", decision.get("reason")),
                    ]
                ),
            )
        )
    body.append(section("签字", signatures(["品质管理部", "项目经理（确认）", "总经理（批准）"])))
    return Document(
        title="品质考核结果",
        number=str(a.get("number")),
        subtitle=f"{a.get('number')} · 项目 {a.get('project')} · {a.get('period')}",
        body="".join(body),
        provenance=provenance,
        stamp=None if a.get("status") in ("published", "appeal_decided") else "未发布",
    )
