"""The CSI report (满意度调查报告) of a survey campaign, from `GET /surveys/{id}`, its
`GET /surveys/{id}/results` and the earlier published campaigns sharing a project (the
trend). Before publication the figures are the provisional ones, and say so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.documents.frame import (
    Document,
    Provenance,
    bar,
    e,
    fields,
    fmt_number,
    render,
    section,
    table,
)
from api.documents.labels import both, label


def _ci(ci: dict[str, Any] | None) -> str:
    if not ci:
        return "—（样本不足）"
    return f"{fmt_number(ci.get('low'))} – {fmt_number(ci.get('high'))}"


def _breakdown(title: str, kind: str, groups: dict[str, Any]) -> str:
    return section(
        title,
        table(
            ["分组", "样本", "CSI", "95% 区间", "CLI", "CSI 与区间"],
            [
                (
                    label(kind, key),
                    g.get("n"),
                    fmt_number(g.get("csi")),
                    _ci(g.get("ci95")),
                    fmt_number(g.get("cli")),
                    bar(g.get("csi"), 100, *(_bounds(g.get("ci95")))),
                )
                for key, g in groups.items()
            ],
            numeric=(1, 2, 4),
        ),
    )


def _bounds(ci: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if not ci:
        return None, None
    return ci.get("low"), ci.get("high")


def csi_report(
    survey: dict[str, Any],
    results: dict[str, Any],
    trend: Sequence[dict[str, Any]],
    provenance: Provenance,
) -> bytes:
    return render(csi_document(survey, results, trend, provenance))


def csi_document(
    survey: dict[str, Any],
    results: dict[str, Any],
    trend: Sequence[dict[str, Any]],
    provenance: Provenance,
) -> Document:
    """`survey`: the campaign's JSON; `results`: its results JSON (`provisional`,
    `results`, `parameters`); `trend`: earlier campaigns (number, title, period_start,
    period_end, n, csi, cli, published_at), oldest first."""
    t = provenance.local
    r = results.get("results") or {}
    params = results.get("parameters") or {}
    period = survey.get("period") or {}
    provisional = bool(results.get("provisional"))
    plan = fields(
        [
            ("调查名称", survey.get("title")),
            ("调查方", both("party", survey.get("party"))),
            ("执行机构", survey.get("agency")),
            ("调查期间", f"{period.get('start')} 至 {period.get('end')}"),
            ("项目", "、".join(survey.get("projects") or [])),
            ("方式", "、".join(label("method", m) for m in survey.get("methods") or [])),
            ("对象", "、".join(label("segment", s) for s in survey.get("segments") or [])),
            ("状态", both("survey_status", survey.get("status"))),
            ("目标样本", survey.get("target_sample")),
            ("目标 CSI", fmt_number(survey.get("target_csi"))),
            ("发布时间", t(results.get("published_at") or survey.get("published_at"))),
            ("调查目的", survey.get("objectives")),
        ]
    )
    figures = (
        '<div class="figures">'
        f'<div class="figure"><div class="v">{e(fmt_number(r.get("csi")))}</div><div class="l">客户满意度指数 CSI</div></div>'
        f'<div class="figure"><div class="v long">{e(_ci(r.get("ci95")))}</div><div class="l">95% 置信区间</div></div>'
        f'<div class="figure"><div class="v">{e(fmt_number(r.get("cli")))}</div><div class="l">客户忠诚度指数 CLI</div></div>'
        f'<div class="figure"><div class="v">{e(r.get("n"))}</div><div class="l">有效样本</div></div>'
        f'<div class="figure"><div class="v">{e(fmt_number(r.get("gap_to_target")))}</div><div class="l">与目标差距</div></div>'
        "</div>"
    )
    summary = fields(
        [
            ("CSI 客户满意度指数", fmt_number(r.get("csi"))),
            ("95% 置信区间", _ci(r.get("ci95"))),
            ("CLI 客户忠诚度指数", fmt_number(r.get("cli"))),
            ("与目标差距", fmt_number(r.get("gap_to_target"))),
            ("有效样本 n", r.get("n")),
            ("已记录 / 已作废", f"{r.get('recorded')} / {r.get('invalidated')}"),
            ("回收率", f"{fmt_number(r.get('response_rate_pct'))}%"),
            ("标准差", fmt_number(r.get("sd"))),
            ("平均分（1–5）", fmt_number(r.get("mean_score"))),
            ("满意率（4–5 分）", f"{fmt_number(r.get('top2_box_pct'))}%"),
        ]
    )
    by_dimension = table(
        ["维度", "样本", "CSI", "95% 区间", "满意率", "CSI 与区间"],
        [
            (
                label("dimension", key),
                d.get("n"),
                fmt_number(d.get("csi")),
                _ci(d.get("ci95")),
                f"{fmt_number(d.get('top2_box_pct'))}%",
                bar(d.get("csi"), 100, *_bounds(d.get("ci95"))),
            )
            for key, d in (r.get("by_dimension") or {}).items()
        ],
        numeric=(1, 2, 4),
    )
    questions = {q.get("code"): q for q in survey.get("questions") or []}
    by_question = table(
        ["题号", "题目", "维度", "权重", "样本", "均分", "CSI", "1", "2", "3", "4", "5"],
        [
            (
                code,
                (questions.get(code) or {}).get("text"),
                label("dimension", q.get("dimension")),
                fmt_number(q.get("weight")),
                q.get("n"),
                fmt_number(q.get("mean")),
                fmt_number(q.get("csi")),
                *[(q.get("distribution") or {}).get(str(k), 0) for k in range(1, 6)],
            )
            for code, q in (r.get("by_question") or {}).items()
        ],
        numeric=(3, 4, 5, 6, 7, 8, 9, 10, 11),
    )
    loyalty = table(
        ["忠诚度", "人数", "占比"],
        [
            (label("loyalty", k), v.get("count"), f"{fmt_number(v.get('pct'))}%")
            for k, v in (r.get("loyalty") or {}).items()
        ],
        numeric=(1, 2),
    )
    previous = r.get("previous")
    rows = [
        (
            p.get("number"),
            p.get("title"),
            f"{p.get('period_start')} 至 {p.get('period_end')}",
            p.get("n"),
            fmt_number(p.get("csi")),
            fmt_number(p.get("cli")),
            bar(p.get("csi")),
        )
        for p in trend
    ]
    rows.append(
        (
            survey.get("number"),
            f"{survey.get('title')}（本次）",
            f"{period.get('start')} 至 {period.get('end')}",
            r.get("n"),
            fmt_number(r.get("csi")),
            fmt_number(r.get("cli")),
            bar(r.get("csi")),
        )
    )
    trend_html = table(["编号", "调查", "期间", "样本", "CSI", "CLI", ""], rows, numeric=(3, 4, 5))
    if previous:
        trend_html += (
            f"<p>与上次调查 {e(previous.get('number'))} 相比：CSI 变化 "
            f"<b>{e(fmt_number(previous.get('csi_change')))}</b>，CLI 变化 "
            f"<b>{e(fmt_number(previous.get('cli_change')))}</b>。</p>"
        )
    body = [
        section("调查方案", plan),
        section("总体结果", figures + summary),
        section("按维度", by_dimension),
        section("按题目（答案分布 1–5 分）", by_question),
        _breakdown("按项目", "project", r.get("by_project") or {}),
        _breakdown("按对象", "segment", r.get("by_segment") or {}),
        _breakdown("按方式", "method", r.get("by_method") or {}),
        section("忠诚度分布", loyalty),
        section("趋势", trend_html),
        section(
            "计算方法",
            fields(
                [
                    ("CSI 公式", params.get("csi_formula")),
                    ("区间", params.get("interval")),
                    ("置信水平", params.get("confidence")),
                    ("满意分值", "、".join(str(x) for x in params.get("top_box") or [])),
                ],
                columns=1,
            ),
        ),
    ]
    return Document(
        title="客户满意度调查报告",
        number=str(survey.get("number")),
        subtitle=f"{survey.get('number')} · {survey.get('title')}",
        body="".join(body),
        provenance=provenance,
        stamp="临时结果（未发布）" if provisional else None,
    )
