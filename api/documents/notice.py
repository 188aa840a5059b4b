"""整改通知 (rectification notice) of a nonconformance, from `GET /nonconformances/{id}`."""

from __future__ import annotations

from typing import Any

from api.documents.frame import (
    Document,
    Markup,
    Provenance,
    e,
    fields,
    render,
    section,
    signatures,
    table,
)
from api.documents.labels import both, label

#: The seed's rule (003 物业服务品质管理办法), printed on every notice.
RULE = (
    "请责任部门在整改期限内完成整改，并将整改结果书面报品质管理部复检。"
    "经复检，发现整改工作未完成的，由品质管理部再次发出整改通知，并在全公司范围内进行通报，"
    "同时在下次考核中给予扣分。"
)


def _source(nc: dict[str, Any]) -> str:
    src = nc.get("source") or {}
    parts = [label("nc_source", src.get("type"))]
    ref = src.get("number") or src.get("ref")
    if ref:
        parts.append(str(ref))
    if src.get("item"):
        parts.append(f"检查项 {src['item']}")
    return " · ".join(parts)


def _bullets(items: list[Any] | None) -> Markup:
    if not items:
        return Markup("—")
    return Markup("".join(f"{n}. {e(x)}<br>" for n, x in enumerate(items, 1)))


def rectification_notice(nc: dict[str, Any], provenance: Provenance) -> bytes:
    return render(notice_document(nc, provenance))


def notice_document(nc: dict[str, Any], provenance: Provenance) -> Document:
    t = provenance.local
    count = int(nc.get("notice_count") or 0)
    header = fields(
        [
            ("项目", nc.get("project")),
            ("通知编号", f"{nc.get('number')}-{max(count, 1)}"),
            ("不合格来源", _source(nc)),
            ("严重程度", both("severity", nc.get("severity"))),
            ("发现时间", t(nc.get("raised_at"))),
            ("通知时间", t(nc.get("noticed_at"))),
            ("责任部门", both("department", nc.get("responsible_department"))),
            ("责任人", nc.get("responsible_person")),
            ("整改期限", t(nc.get("due_date"))),
            ("通知次数", f"第 {count} 次" if count else "尚未发出"),
            ("升级级别", label("escalation", nc.get("escalation_level"))),
            ("当前状态", both("nc_status", nc.get("status"))),
            ("延期次数", nc.get("extensions")),
            ("考核扣分", "是（下次考核扣分）" if nc.get("deduction") else "否"),
        ]
    )
    body = [
        f"<p>致 <b>{e(label('department', nc.get('responsible_department')))}</b>"
        f"（责任人：{e(nc.get('responsible_person'))}）：</p>",
        f'<p class="text">贵部门所辖项目 <b>{e(nc.get("project"))}</b> 存在以下不合格，'
        f"请于 <b>{e(t(nc.get('due_date')))}</b> 前完成整改。</p>",
        section("通知信息", header),
        section("不合格描述", f'<p class="text">{e(nc.get("description"))}</p>'),
        section(
            "原因分析与整改措施",
            fields(
                [
                    ("原因分析", nc.get("root_cause")),
                    ("措施审批", label("plan_status", nc.get("plan_status"))),
                    ("纠正措施", _bullets(nc.get("corrective_actions"))),
                    ("预防措施", _bullets(nc.get("preventive_actions"))),
                ]
            ),
        ),
    ]
    rect = nc.get("rectification")
    if rect:
        body.append(
            section(
                "整改情况",
                fields(
                    [
                        ("整改报告", rect.get("summary")),
                        ("报告时间", t(nc.get("rectified_at"))),
                        ("证据", ", ".join(rect.get("evidence") or []) or None),
                    ]
                ),
            )
        )
    verifications = nc.get("verifications") or []
    body.append(
        section(
            "复检记录",
            table(
                ["次序", "时间", "复检人", "结论", "说明", "复检单"],
                [
                    (
                        n,
                        t(v.get("at")),
                        v.get("by"),
                        Markup('<span class="pass">有效</span>')
                        if v.get("effective")
                        else Markup('<span class="fail">未完成整改</span>'),
                        v.get("notes"),
                        v.get("inspection"),
                    )
                    for n, v in enumerate(verifications, 1)
                ],
                empty="尚未复检",
            ),
        )
    )
    if nc.get("closed_at") or nc.get("cancelled_at") or nc.get("disposition"):
        body.append(
            section(
                "处置与关闭",
                fields(
                    [
                        ("处置方式", both("disposition", nc.get("disposition"))),
                        ("关闭时间", t(nc.get("closed_at"))),
                        ("按期关闭", nc.get("closed_on_time")),
                        ("撤销时间", t(nc.get("cancelled_at"))),
                    ]
                ),
            )
        )
    ext = nc.get("extension_request")
    if ext:
        body.append(
            section(
                "延期申请（待批）",
                fields(
                    [
                        ("申请期限", t(ext.get("new_due_date"))),
                        ("申请人", ext.get("requested_by")),
                        ("原因", ext.get("reason")),
                        ("补救措施", ext.get("remedial_measures")),
                    ]
                ),
            )
        )
    linked = nc.get("linked_issues") or []
    if linked:
        body.append(
            section(
                "关联事项",
                table(
                    ["编号", "类别", "关系"],
                    [
                        (r.get("number"), r.get("kind"), r.get("rel") or r.get("kinds"))
                        for r in linked
                    ],
                ),
            )
        )
    body.append(section("整改要求", f'<p class="text">{e(RULE)}</p>'))
    body.append(
        section("签收", signatures(["签发：品质管理部", "接收：责任部门", "复检：品质管理部"]))
    )
    stamp = None
    if nc.get("status") == "closed":
        stamp = "已关闭"
    elif nc.get("status") == "cancelled":
        stamp = "已撤销"
    elif count > 1:
        stamp = f"第{count}次通知"
    return Document(
        title="整改通知书",
        number=str(nc.get("number")),
        subtitle=f"{nc.get('number')} · 项目 {nc.get('project')}",
        body="".join(body),
        provenance=provenance,
        stamp=stamp,
    )
