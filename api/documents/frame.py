"""The frame every printable document shares: A4 pages, a header naming the document,
a footer with the provenance line and page numbers, the provenance block (store positions
and hash-chain heads the document was built from), Chinese fonts embedded.

Renderers build HTML from plain dicts (the JSON the GET endpoints return) and hand it to
`render`; WeasyPrint lays it out (Pango + HarfBuzz shape the Chinese text) and embeds a
subset of Noto Sans CJK SC (Debian `fonts-noto-cjk`). See docs/documents.md.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

COMPANY = "物业服务品质管理 · Qualtrace"
FONT = "'Noto Sans CJK SC', 'Noto Sans CJK', 'Noto Sans SC', sans-serif"


def e(value: Any) -> str:
    """Text for HTML: None → a dash, numbers without needless decimals, escaped."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return html.escape(fmt_number(value))
    return html.escape(str(value))


def fmt_number(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = f"{float(value):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def signed_pct(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{'+' if number > 0 else ''}{fmt_number(number)}%"


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


@dataclass(frozen=True)
class IssueSeal:
    """Where one issue's document comes from: its version, the store position and
    event hash of that version's event (the head of the issue's own hash chain), and the
    ledger entry that sealed it into the store-wide chain (None while not yet sealed)."""

    number: str
    version: int
    position: int
    event_hash: str
    first_position: int | None = None
    ledger_seq: int | None = None
    ledger_chain_hash: str | None = None


@dataclass(frozen=True)
class LedgerHead:
    """The store-wide hash chain's last sealed entry when the document was built."""

    seq: int
    position: int
    chain_hash: str


@dataclass(frozen=True)
class Provenance:
    built_at: datetime
    timezone: str = "Asia/Shanghai"
    read_position: int | None = None
    issues: tuple[IssueSeal, ...] = ()
    ledger: LedgerHead | None = None
    note: str | None = None

    def local(self, value: Any) -> str:
        return local_time(value, self.timezone)

    def footer_line(self) -> str:
        parts = []
        if self.issues:
            main = self.issues[0]
            parts.append(f"{main.number} v{main.version} · 位置 {main.position}")
            parts.append(f"事件哈希 {main.event_hash[:12]}")
        elif self.read_position is not None:
            parts.append(f"读模型位置 {self.read_position}")
        if self.ledger is not None:
            parts.append(f"总账 #{self.ledger.seq} {self.ledger.chain_hash[:12]}")
        return " · ".join(parts)


def local_time(value: Any, tz: str = "Asia/Shanghai", with_time: bool = True) -> str:
    """An ISO time (or datetime) in company time: `2026-03-02 09:00`."""
    if value is None or value == "":
        return "—"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return text
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(tz))
        return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    return str(value)


# -- building blocks -----------------------------------------------------------------------
def section(title: str, body: str, cls: str = "") -> str:
    return f'<section class="{cls}"><h2>{e(title)}</h2>{body}</section>'


def fields(pairs: Sequence[tuple[str, Any]], columns: int = 2) -> str:
    """Label/value pairs laid out `columns` to a row (values already escaped if str
    starting with '<' is passed through as HTML)."""
    cells = []
    for label, value in pairs:
        shown = value if isinstance(value, Markup) else e(value)
        cells.append(f"<th>{e(label)}</th><td>{shown}</td>")
    rows = []
    for i in range(0, len(cells), columns):
        chunk = cells[i : i + columns]
        chunk += ["<th></th><td></td>"] * (columns - len(chunk))
        rows.append("<tr>" + "".join(chunk) + "</tr>")
    return f'<table class="fields">{"".join(rows)}</table>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[int] = (),
    empty: str = "无",
    cls: str = "",
    widths: Sequence[int] = (),
) -> str:
    """A grid with a header row; `numeric` columns right-aligned and never wrapped;
    `widths` in percent (else the layout shares the width out by content)."""
    cols = "".join(f'<col style="width:{w}%">' for w in widths)
    colgroup = f"<colgroup>{cols}</colgroup>" if cols else ""
    head = "".join(
        f'<th class="{"num" if i in numeric else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        tds = []
        for i, value in enumerate(row):
            shown = value if isinstance(value, Markup) else e(value)
            tds.append(f'<td class="{"num" if i in numeric else ""}">{shown}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="empty">{e(empty)}</td></tr>')
    return (
        f'<table class="grid {cls}">{colgroup}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


class Markup(str):
    """HTML built by a renderer, passed through unescaped."""


def bar(
    value: float | None, maximum: float = 100.0, low: float | None = None, high: float | None = None
) -> Markup:
    """A horizontal bar (and its interval whisker) for a figure out of `maximum`."""
    if value is None:
        return Markup("")
    width = max(0.0, min(100.0, float(value) / maximum * 100))
    whisker = ""
    if low is not None and high is not None:
        lo = max(0.0, min(100.0, low / maximum * 100))
        hi = max(0.0, min(100.0, high / maximum * 100))
        whisker = (
            f'<span class="whisker" style="left:{lo:.1f}%;width:{max(hi - lo, 0.5):.1f}%"></span>'
        )
    return Markup(
        f'<span class="bar"><span class="fill" style="width:{width:.1f}%"></span>{whisker}</span>'
    )


def signatures(roles: Sequence[str]) -> str:
    cells = "".join(
        f'<td><div class="sig-role">{e(r)}</div><div class="sig-line">签字：</div>'
        f'<div class="sig-line">日期：</div></td>'
        for r in roles
    )
    return f'<table class="signatures"><tr>{cells}</tr></table>'


def provenance_block(p: Provenance) -> str:
    rows: list[tuple[str, Any]] = []
    for seal in p.issues:
        span = (
            f"位置 {seal.first_position}–{seal.position}"
            if seal.first_position is not None
            else f"位置 {seal.position}"
        )
        rows.append((f"{seal.number} 版本", f"v{seal.version}（事件 1–{seal.version}，{span}）"))
        rows.append((f"{seal.number} 链头事件哈希", Markup(f"<code>{e(seal.event_hash)}</code>")))
        if seal.ledger_seq is not None:
            rows.append(
                (
                    f"{seal.number} 总账封存",
                    Markup(f"#{seal.ledger_seq} <code>{e(seal.ledger_chain_hash)}</code>"),
                )
            )
        else:
            rows.append((f"{seal.number} 总账封存", "尚未封存（见下方总账链头）"))
    if p.read_position is not None:
        rows.append(("读模型位置", f"已处理至存储位置 {p.read_position}"))
    if p.ledger is not None:
        rows.append(
            (
                "总账链头",
                Markup(
                    f"#{p.ledger.seq}（位置 {p.ledger.position}）<code>{e(p.ledger.chain_hash)}</code>"
                ),
            )
        )
    rows.append(("生成时间", p.local(p.built_at)))
    body = "".join(
        f"<tr><th>{e(k)}</th><td>{v if isinstance(v, Markup) else e(v)}</td></tr>" for k, v in rows
    )
    note = (
        p.note
        or "本文件仅由已记录的事件生成。凭上列位置与哈希，可用 qualtrace verify 或审计包"
        "（GET /audit/{id}/pack，tools/verify_pack.py）核对其与事件存储一致。"
    )
    return (
        '<section class="provenance"><h2>数据来源与可追溯性</h2>'
        f'<table class="prov">{body}</table><p class="note">{e(note)}</p></section>'
    )


STYLE = """
@page {
  size: A4; margin: 22mm 16mm 20mm 16mm;
  @top-left { content: %(company)s; font: 8pt %(font)s; color: #555; }
  @top-right { content: %(header)s; font: 8pt %(font)s; color: #555; }
  @bottom-left { content: %(footer)s; font: 7pt %(font)s; color: #666; }
  @bottom-right { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页"; font: 8pt %(font)s; color: #333; }
}
html { font-family: %(font)s; font-size: 9.5pt; color: #111; line-height: 1.45; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 2mm 0; letter-spacing: 2pt; }
.subtitle { text-align: center; color: #444; margin: 0 0 5mm 0; font-size: 10pt; }
.stamp { float: right; white-space: nowrap; border: 1.5pt solid #b00; color: #b00; padding: 1mm 3mm; font-weight: bold; transform: rotate(-6deg); margin-top: -12mm; }
h2 { font-size: 11.5pt; border-bottom: 1pt solid #1d4e89; color: #1d4e89; padding-bottom: 1mm; margin: 5mm 0 2mm 0; }
section { break-inside: auto; }
table { border-collapse: collapse; width: 100%%; }
table.fields th { text-align: left; color: #444; font-weight: normal; width: 16%%; padding: 1mm 2mm; background: #f3f5f8; border: 0.5pt solid #ccd; }
table.fields td { padding: 1mm 2mm; border: 0.5pt solid #ccd; width: 34%%; }
table.grid th { background: #1d4e89; color: white; font-weight: bold; padding: 1.2mm 1.5mm; text-align: left; border: 0.5pt solid #1d4e89; }
table.grid td { padding: 1mm 1.5mm; border: 0.5pt solid #bbc; vertical-align: top; }
table.grid tr:nth-child(even) td { background: #f6f8fb; }
table.grid tr { break-inside: avoid; }
th.num, td.num { text-align: right; white-space: nowrap; }
table.grid.fixed { table-layout: fixed; }
table.grid.small { font-size: 8.5pt; }
td.empty { text-align: center; color: #777; }
.figures { display: flex; gap: 3mm; margin: 2mm 0; }
.figure { flex: 1; border: 0.8pt solid #1d4e89; border-radius: 1.5mm; padding: 2mm; text-align: center; }
.figure .v.long { font-size: 11pt; padding: 1.6mm 0; }
.figure .v { font-size: 16pt; font-weight: bold; color: #1d4e89; }
.figure .l { font-size: 8pt; color: #444; }
.bar { display: inline-block; position: relative; width: 45mm; height: 3mm; background: #e4e8ef; vertical-align: middle; }
.bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: #3b78c3; }
.bar .whisker { position: absolute; top: 1.2mm; height: 0.6mm; background: #111; }
.fail { color: #b00; font-weight: bold; white-space: nowrap; }
.pass { color: #176b2c; white-space: nowrap; }
p.text { white-space: pre-wrap; margin: 1mm 0; }
table.signatures td { width: 33%%; border: 0.5pt solid #999; padding: 2mm; height: 22mm; vertical-align: top; }
.sig-role { font-weight: bold; margin-bottom: 3mm; }
.sig-line { margin-top: 3mm; color: #333; }
section.provenance { margin-top: 6mm; font-size: 7.5pt; color: #333; break-inside: avoid; }
section.provenance h2 { font-size: 9pt; }
table.prov th { text-align: left; font-weight: normal; color: #555; width: 28%%; padding: 0.6mm 1.5mm; border: 0.4pt solid #ccc; }
table.prov td { padding: 0.6mm 1.5mm; border: 0.4pt solid #ccc; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 7pt; word-break: break-all; }
p.note { color: #555; }
.muted { color: #666; }
"""


@dataclass
class Document:
    """One printable document: a title, the number it is about, its body (HTML built
    with the helpers above) and where it came from."""

    title: str
    number: str
    body: str
    provenance: Provenance
    subtitle: str = ""
    stamp: str | None = None
    extra_css: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def html(self) -> str:
        style = STYLE % {
            "company": _css_string(COMPANY),
            "header": _css_string(f"{self.title} · {self.number}"),
            "footer": _css_string(self.provenance.footer_line()),
            "font": FONT,
        }
        stamp = f'<div class="stamp">{e(self.stamp)}</div>' if self.stamp else ""
        subtitle = f'<p class="subtitle">{e(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{e(self.title)} {e(self.number)}</title>"
            f"<style>{style}{self.extra_css}</style></head><body>"
            f"<h1>{e(self.title)}</h1>{subtitle}{stamp}{self.body}"
            f"{provenance_block(self.provenance)}</body></html>"
        )


def render(doc: Document) -> bytes:
    """The document as PDF bytes (fonts subset and embedded)."""
    from weasyprint import HTML  # imported late: a few hundred ms, only when printing

    pdf = HTML(string=doc.html()).write_pdf()
    assert pdf is not None
    return bytes(pdf)
