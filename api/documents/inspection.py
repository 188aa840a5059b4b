"""The inspection report (检查报告) from `GET /inspections/{id}`: items and scores by
section, findings, the score, grade and pay adjustment with the grading bands it was
graded by, the nonconformances it raised, the appeal, and a signatures block."""

from __future__ import annotations

from typing import Any

from api.documents.frame import (
    Document,
    Markup,
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


def _result(code: Any) -> Markup:
    cls = {"pass": "pass", "fail": "fail"}.get(str(code), "")
    return Markup(f'<span class="{cls}">{e(label("result", code))}</span>')


def _scorer(by: Any, rescored: int) -> str | None:
    """Who scored an item last, and how often it was rescored."""
    if not isinstance(by, dict) or not by.get("name"):
        return None
    return str(by["name"]) + (f"（改分{rescored}次）" if rescored else "")


def inspection_report(ins: dict[str, Any], provenance: Provenance) -> bytes:
    return render(inspection_document(ins, provenance))


def inspection_document(ins: dict[str, Any], provenance: Provenance) -> Document:
    t = provenance.local
    items = ins.get("items") or []
    scored = ins.get("score") is not None
    failed = [i for i in items if i.get("result") == "fail"]
    summary = (
        '<div class="figures">'
        f'<div class="figure"><div class="v">{e(fmt_number(ins.get("score")))}</div><div class="l">得分（百分制）</div></div>'
        f'<div class="figure"><div class="v">{e(ins.get("grade"))}</div><div class="l">等级</div></div>'
        f'<div class="figure"><div class="v">{e(signed_pct(ins.get("pay_adjustment_pct")))}</div><div class="l">绩效工资调整</div></div>'
        f'<div class="figure"><div class="v">{e(fmt_number(ins.get("awarded")))} / {e(fmt_number(ins.get("applicable_max")))}</div><div class="l">实得分 / 适用满分</div></div>'
        f'<div class="figure"><div class="v">{len(failed)}</div><div class="l">不合格项</div></div>'
        "</div>"
        if scored
        else '<p class="muted">尚未提交评分。</p>'
    )
    head = fields(
        [
            ("项目", ins.get("project")),
            ("检查类型", both("inspection_kind", ins.get("kind"))),
            (
                "检查表",
                f"{ins.get('template_name')}（{ins.get('template_number')} 第 {ins.get('template_version')} 版）",
            ),
            ("计划日期", ins.get("planned_for")),
            ("检查人员", "、".join(ins.get("inspectors") or []) or None),
            ("状态", both("inspection_status", ins.get("status"))),
            ("开始时间", t(ins.get("started_at"))),
            ("提交时间", t(ins.get("submitted_at"))),
            ("定稿时间", t(ins.get("finalized_at"))),
            ("复检对象", ins.get("reinspection_of")),
        ]
    )
    rows = []
    for item in items:
        code = item.get("code")
        name = f"{item.get('requirement')}"
        if item.get("critical"):
            name += "（关键项）"
        rescored = len(item.get("history") or [])
        rows.append(
            (
                f"{item.get('section_name') or item.get('section')}",
                code,
                name,
                fmt_number(item.get("max_points")),
                fmt_number(item.get("points")) if item.get("points") is not None else None,
                _result(item.get("result")) if item.get("result") else None,
                item.get("finding"),
                _scorer(item.get("scored_by"), rescored),
            )
        )
    items_table = table(
        ["类别", "编号", "检查内容", "满分", "得分", "结论", "发现问题", "评分人"],
        rows,
        numeric=(3, 4),
        empty="无检查项",
        cls="fixed small",
        widths=(10, 8, 25, 6, 6, 8, 22, 15),
    )
    findings = table(
        ["编号", "检查内容", "发现问题", "证据"],
        [
            (
                i.get("code"),
                i.get("requirement"),
                i.get("finding"),
                ", ".join(i.get("evidence") or []) or None,
            )
            for i in failed
        ],
        empty="无不合格项",
    )
    bands = table(
        ["最低得分", "等级", "绩效工资调整"],
        [
            (
                fmt_number(b.get("min_score")),
                b.get("grade"),
                signed_pct(b.get("pay_adjustment_pct")),
            )
            for b in ins.get("grading_policy") or []
        ],
        numeric=(0, 2),
        empty="未评级",
    )
    raised = table(
        ["检查项", "不合格编号", "严重程度", "申诉推翻"],
        [
            (
                r.get("item"),
                r.get("number"),
                both("severity", r.get("severity")),
                r.get("overturned_on_appeal"),
            )
            for r in ins.get("raised_nonconformances") or []
        ],
        empty="未提出不合格",
    )
    body = [
        section("基本信息", head),
        section("检查结果", summary + bands),
        section("检查项目与评分", items_table),
        section("发现问题", findings),
        section("由本次检查提出的不合格（整改通知）", raised),
    ]
    appeal = ins.get("appeal")
    if appeal:
        decision = appeal.get("decision") or {}
        body.append(
            section(
                "申诉",
                fields(
                    [
                        ("申诉项", "、".join(appeal.get("items") or []) or None),
                        ("申诉理由", appeal.get("reason")),
                        (
                            "申诉人",
                            (appeal.get("by") or {}).get("name")
                            if isinstance(appeal.get("by"), dict)
                            else appeal.get("by"),
                        ),
                        (
                            "裁决",
                            None
                            if not decision
                            else ("接受" if decision.get("accepted") else "驳回"),
                        ),
                        ("裁决理由", decision.get("reason")),
                        (
                            "原得分",
                            fmt_number((decision.get("previous") or {}).get("score"))
                            if decision.get("previous")
                            else None,
                        ),
                    ]
                ),
            )
        )
    body.append(section("签字", signatures(["检查人", "项目负责人（确认）", "品质管理部（审核）"])))
    return Document(
        title="品质检查报告",
        number=str(ins.get("number")),
        subtitle=f"{ins.get('number')} · 项目 {ins.get('project')} · {label('inspection_kind', ins.get('kind'))}",
        body="".join(body),
        provenance=provenance,
        stamp={"cancelled": "已取消", "appealed": "申诉中"}.get(str(ins.get("status"))),
    )
