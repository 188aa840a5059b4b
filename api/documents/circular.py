"""The company-wide circular (全公司通报), from the circular's JSON (`GET /circulars/{id}`:
number, title, text, origin, project, nonconformance{id, number}, raised_at, receipts[]).
Route: `GET /circulars/{id}/document.pdf`."""

from __future__ import annotations

from typing import Any

from api.documents.frame import Document, Provenance, e, fields, render, section, table


def circular_document(c: dict[str, Any], provenance: Provenance) -> Document:
    t = provenance.local
    nc = c.get("nonconformance") or {}
    head = fields(
        [
            ("通报编号", c.get("number")),
            ("发布时间", t(c.get("raised_at"))),
            ("涉及项目", c.get("project") or "全公司"),
            ("相关不合格", nc.get("number")),
            ("来源", "复检未通过自动通报" if c.get("origin") == "automatic" else "品质管理部发布"),
        ]
    )
    receipts = table(
        ["阅读人", "角色", "时间"],
        [(r.get("name"), r.get("role"), t(r.get("at"))) for r in c.get("receipts") or []],
        empty="尚无阅读记录",
    )
    body = [
        f'<p class="subtitle"><b>{e(c.get("title"))}</b></p>',
        section("通报信息", head),
        section("通报内容", f'<p class="text">{e(c.get("text"))}</p>'),
        section("阅读回执", receipts),
    ]
    return Document(
        title="全公司通报",
        number=str(c.get("number")),
        body="".join(body),
        provenance=provenance,
    )


def circular_sheet(c: dict[str, Any], provenance: Provenance) -> bytes:
    return render(circular_document(c, provenance))
