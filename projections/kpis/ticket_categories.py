"""The ticket category (投诉分类, issue #16 item 5) on the ticket facts
(projections/kpis/tickets.py): the text the caller sent, its place in the taxonomy in
force (level-1 and level-2 code and name; domain/categories.py) and repeat complaints.

Classification happens here, on the read side, with the taxonomy of the ticket policy
(`QUALTRACE_TICKET_POLICY.categories`): the events keep the text as sent, so a changed
taxonomy reclassifies all history with one `qualtrace projections rebuild kpi_tickets`.

A **repeat complaint** is a complaint (kind `complaint`, not cancelled) from the same
unit (`reporter.unit`, compared without case and spaces; an empty unit never repeats)
of the same project with the same known category (full code:
`engineering.plumbing_electrical`, or the level-1 code when the text named only that;
two texts the taxonomy does not know are not taken for the same category) received at
most 30 days (30 × 24 h) after the previous such complaint. Repeats are recomputed, with one window query, for
every (project, unit) a batch touched, so a reclassification, a kind change or a
cancellation moves the repeats after it too, and a rebuild gives the same rows.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import Cursor, sql

from domain.categories import Taxonomy
from domain.tickets import Ticket
from projections.kpis.cells import mark_dirty

#: Days within which the same unit's complaint in the same category is a repeat.
REPEAT_DAYS = 30

COLUMNS_DDL = """,
            category text NOT NULL DEFAULT '',
            category_l1 text NOT NULL DEFAULT 'other',
            category_l1_name text NOT NULL DEFAULT '',
            category_l2 text,
            category_l2_name text,
            category_code text NOT NULL DEFAULT 'other',
            category_known boolean NOT NULL DEFAULT false,
            reporter_unit text NOT NULL DEFAULT '',
            repeat_of uuid,
            repeat_of_number text,
            repeat_days double precision"""

EXTRA_DDL = [
    "CREATE INDEX ON {schema}.ticket_facts (project, reporter_unit)",
]

#: Columns of the reporting fact view (no `reporter_unit`: it would identify a household).
FACT_DOCS: dict[str, str] = {
    "category": "Category text as the caller sent it (free text).",
    "category_l1": "Level-1 category code of the taxonomy in force (other = unknown text).",
    "category_l1_name": "Level-1 category name, e.g. 工程维修.",
    "category_l2": "Level-2 category code (within its level-1); null when the text named none.",
    "category_l2_name": "Level-2 category name, e.g. 水电.",
    "category_code": "Full category code: level1.level2, or level1 alone.",
    "category_known": "The text was found in the taxonomy (false = counted under other).",
    "repeat_of": "A repeat complaint: the earlier complaint (same unit, category, project, <= 30 days).",
    "repeat_of_number": "Number of that earlier complaint.",
    "repeat_days": "Days since that earlier complaint.",
}


def unit_key(unit: str | None) -> str:
    """A unit as compared for repeats: spaces removed, case folded (`3-1201` = ` 3-1201`)."""
    return re.sub(r"\s+", "", unit or "").casefold()


def classify_into(row: dict[str, Any], taxonomy: Taxonomy, text: str) -> None:
    """Set the category columns of a fact row from the text as sent."""
    c = taxonomy.classify(text)
    row.update(
        category=text,
        category_l1=c.l1,
        category_l1_name=c.l1_name,
        category_l2=c.l2,
        category_l2_name=c.l2_name,
        category_code=c.code,
        category_known=c.known,
    )


_REPEATS = """
WITH touched AS (
    SELECT project, unit, min(since) AS since
    FROM unnest(%(projects)s::text[], %(units)s::text[], %(since)s::timestamptz[])
         AS x(project, unit, since)
    GROUP BY 1, 2
), chain AS (
    SELECT f.ticket_id, f.received_at, t.since,
           lag(f.ticket_id) OVER w AS prev_id,
           lag(f.number) OVER w AS prev_number,
           lag(f.received_at) OVER w AS prev_at
    FROM {facts} f JOIN touched t ON f.project = t.project AND f.reporter_unit = t.unit
    WHERE f.kind = 'complaint' AND f.cancelled_at IS NULL AND f.category_known
      AND f.received_at >= t.since - %(window)s::interval
    WINDOW w AS (PARTITION BY f.project, f.reporter_unit, f.category_code
                 ORDER BY f.received_at, f.number)
), fresh AS (
    SELECT f.ticket_id,
           CASE WHEN c.received_at - c.prev_at <= %(window)s::interval THEN c.prev_id END
             AS repeat_of,
           CASE WHEN c.received_at - c.prev_at <= %(window)s::interval THEN c.prev_number END
             AS number,
           CASE WHEN c.received_at - c.prev_at <= %(window)s::interval
                THEN round((extract(epoch FROM c.received_at - c.prev_at) / 86400)::numeric, 2)
           END AS days
    FROM {facts} f JOIN touched t ON f.project = t.project AND f.reporter_unit = t.unit
    LEFT JOIN chain c ON c.ticket_id = f.ticket_id
    WHERE f.received_at >= t.since
)
UPDATE {facts} f
SET repeat_of = fresh.repeat_of, repeat_of_number = fresh.number, repeat_days = fresh.days
FROM fresh
WHERE f.ticket_id = fresh.ticket_id
  AND (f.repeat_of IS DISTINCT FROM fresh.repeat_of OR f.repeat_days IS DISTINCT FROM fresh.days)
RETURNING f.received_local
"""

#: The events that can make or break a repeat: a new ticket, a new kind or category,
#: a cancellation. Other steps (dispatch, close …) leave the repeats as they are.
REPEAT_EVENTS = (Ticket.Received, Ticket.Reclassified, Ticket.Cancelled)


def mark_repeats(cur: Cursor[Any], schema: str, rows: list[dict[str, Any]]) -> None:
    """Recompute the repeat columns of the complaints of the (project, unit) pairs of
    `rows` (the batch's tickets received, reclassified or cancelled) received since the
    earliest of them (an older complaint lies more than 30 days before any it could
    change, so the look-back stops there), and mark the report cells they move."""
    rows = [r for r in rows if r.get("reporter_unit")]
    if not rows:
        return
    cur.execute(
        sql.SQL(_REPEATS).format(facts=sql.Identifier(schema, "ticket_facts")),
        {
            "projects": [r["project"] for r in rows],
            "units": [r["reporter_unit"] for r in rows],
            "since": [r["received_at"] for r in rows],
            "window": f"{REPEAT_DAYS} days",
        },
    )
    moved = [r[0] for r in cur.fetchall()]
    if moved:
        mark_dirty(cur, schema, [(min(moved), max(moved))])
