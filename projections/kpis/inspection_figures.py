"""The inspection KPI figures (`SPEC`) and the documentation of their fact columns; the
facts are written by `projections.kpis.inspections` (definitions there)."""

from __future__ import annotations

from projections.kpis.spec import ExtraView, FactView, Family, KpiSpec, Measure, pct

ITEMS = "inspection_item_facts"


def _round(expr: str) -> str:
    return f"round(({expr})::numeric, 2)"


FACT_DOCS: dict[str, str] = {
    "inspection_id": "Inspection id (UUID).",
    "number": "Inspection number, e.g. INS-2026-000012.",
    "project": "Project code.",
    "region": "Region code of the project.",
    "kind": "self_check, cross_check, regional_monthly, company_quarterly, night_check, mystery_visit, "
    "internal_audit or third_party_audit.",
    "template_number": "Checklist template number.",
    "template_version": "Checklist template version the inspection pinned.",
    "status": "Current status of the inspection.",
    "planned_for": "Planned date (company local date); places the inspection in its month.",
    "planned_month": "Planned month, YYYY-MM.",
    "planned_quarter": "Planned quarter, YYYY-Qn.",
    "planned_year": "Planned year.",
    "submitted_at": "When the result was submitted (UTC).",
    "submitted_local": "When the result was submitted, company local time.",
    "finalized_at": "When the result was finalised (UTC).",
    "cancelled_at": "When the inspection was cancelled (UTC).",
    "due_local": "Self-checks: reporting deadline (end of the second Monday of the planned month), local time.",
    "score": "Current score 0-100 (awarded / applicable max x 100; after an appeal decision, the decided score).",
    "grade": "Grade of the current score under the grading policy recorded with it.",
    "pay_adjustment_pct": "Pay adjustment % of that grade.",
    "submitted_score": "Score as first submitted (before any appeal).",
    "appealed": "The project manager appealed the score.",
    "appeal_accepted": "The appeal was accepted (null: not appealed or not decided).",
    "items_total": "Checklist items in the inspection.",
    "items_failed": "Items failed (current).",
    "items_na": "Items not applicable.",
    "rescores": "Items rescored (with a reason).",
    "nonconformances_raised": "Nonconformances raised by failed items (not overturned on appeal).",
}

ITEM_DOCS: dict[str, str] = {
    "inspection_id": "Inspection id (UUID).",
    "number": "Inspection number.",
    "project": "Project code.",
    "region": "Region code of the project.",
    "kind": "Inspection kind.",
    "planned_month": "Planned month of the inspection, YYYY-MM.",
    "planned_quarter": "Planned quarter of the inspection, YYYY-Qn.",
    "section": "Checklist section code.",
    "section_name": "Checklist section name.",
    "item": "Checklist item code.",
    "requirement": "The item's requirement.",
    "critical": "Critical item.",
    "max_points": "Maximum points of the item.",
    "points": "Points awarded (current; null when not applicable or not scored).",
    "result": "pass, fail or na (null: not scored).",
    "counted": "The inspection was submitted: the item counts in the KPIs.",
}

DONE = "submitted_at IS NOT NULL AND cancelled_at IS NULL"
SELF = "kind = 'self_check' AND cancelled_at IS NULL"
ON_TIME = f"{SELF} AND submitted_local < due_local"
DECIDED = f"{SELF} AND (submitted_at IS NOT NULL OR due_local <= {{end}})"

SPEC = KpiSpec(
    kind="inspections",
    prefix="inspection",
    unit="inspection",
    facts="inspection_facts",
    dims={"kind": "kind"},
    dim_docs={
        "kind": "Inspection kind.",
        "grade": "Grade of the current score (none: not submitted).",
        "template": "Checklist template number.",
        "section": "Checklist section code.",
        "item": "Checklist item code.",
    },
    families=(
        Family(
            anchor="planned_local",
            dims={"grade": "coalesce(grade, 'none')", "template": "template_number"},
            measures=(
                Measure("planned", "count(*)", "Inspections planned in the period.", count=True),
                Measure(
                    "done",
                    f"count(*) FILTER (WHERE {DONE})",
                    "Of those, done (result submitted).",
                    count=True,
                ),
                Measure("cancelled", "count(cancelled_at)", "Of those, cancelled.", count=True),
                Measure(
                    "done_pct",
                    pct(f"count(*) FILTER (WHERE {DONE})", "count(*)"),
                    "Done vs planned, %.",
                ),
                Measure(
                    "score_avg", _round(f"avg(score) FILTER (WHERE {DONE})"), "Mean score (0-100)."
                ),
                Measure(
                    "score_median",
                    _round(
                        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY score) FILTER (WHERE {DONE})"
                    ),
                    "Median score.",
                ),
                Measure("score_min", _round(f"min(score) FILTER (WHERE {DONE})"), "Lowest score."),
                Measure("score_max", _round(f"max(score) FILTER (WHERE {DONE})"), "Highest score."),
                Measure(
                    "score_rank",
                    f"CASE WHEN count(score) FILTER (WHERE {DONE}) > 0 THEN rank() OVER ({{partition}} "
                    f"ORDER BY avg(score) FILTER (WHERE {DONE}) DESC NULLS LAST) END",
                    "Rank by mean score among the rows of the same period (and other dimensions); 1 = best.",
                ),
                Measure(
                    "pay_adjustment_avg",
                    _round(f"avg(pay_adjustment_pct) FILTER (WHERE {DONE})"),
                    "Mean pay adjustment % of the grades.",
                ),
                Measure(
                    "score_sum",
                    _round(f"sum(score) FILTER (WHERE {DONE})"),
                    "Sum of the scores (quarterly results sum the months; filter by kind).",
                ),
                Measure(
                    "pay_adjustment_sum",
                    _round(f"sum(pay_adjustment_pct) FILTER (WHERE {DONE})"),
                    "Sum of the pay adjustment % of the grades (for the performance contract).",
                ),
                *(
                    Measure(
                        f"grade_{g.lower()}",
                        f"count(*) FILTER (WHERE {DONE} AND grade = '{g}')",
                        f"Inspections graded {g} (default grading policy).",
                        count=True,
                    )
                    for g in ("A", "B", "C", "D", "E")
                ),
                Measure(
                    "appealed", "count(*) FILTER (WHERE appealed)", "Scores appealed.", count=True
                ),
                Measure(
                    "appeals_accepted",
                    "count(*) FILTER (WHERE appeal_accepted)",
                    "Appeals accepted.",
                    count=True,
                ),
                Measure(
                    "nonconformances_raised",
                    f"coalesce(sum(nonconformances_raised) FILTER (WHERE {DONE}), 0)",
                    "Nonconformances raised by failed items.",
                    count=True,
                ),
                Measure(
                    "self_checks",
                    f"count(*) FILTER (WHERE {SELF})",
                    "Self-checks planned (not cancelled).",
                    count=True,
                ),
                Measure(
                    "self_checks_on_time",
                    f"count(*) FILTER (WHERE {ON_TIME})",
                    "Self-checks submitted by the second Monday of their month.",
                    count=True,
                ),
                Measure(
                    "self_checks_on_time_pct",
                    pct(f"count(*) FILTER (WHERE {ON_TIME})", f"count(*) FILTER (WHERE {DECIDED})"),
                    "Self-checks on time, % of those submitted or past due.",
                ),
            ),
        ),
        Family(
            anchor="planned_local",
            facts=ITEMS,
            where="counted",
            dims={"section": "section", "item": "item"},
            ranked=("project", "region", "section", "item"),
            measures=(
                Measure(
                    "items_scored",
                    "count(*) FILTER (WHERE result IN ('pass', 'fail'))",
                    "Applicable items scored in submitted inspections.",
                    count=True,
                ),
                Measure(
                    "items_failed",
                    "count(*) FILTER (WHERE result = 'fail')",
                    "Items failed.",
                    count=True,
                ),
                Measure(
                    "item_fail_rate_pct",
                    pct(
                        "count(*) FILTER (WHERE result = 'fail')",
                        "count(*) FILTER (WHERE result IN ('pass', 'fail'))",
                    ),
                    "Items failed, % of applicable items.",
                ),
                Measure(
                    "fail_rank",
                    "rank() OVER ({partition} ORDER BY count(*) FILTER (WHERE result = 'fail') DESC)",
                    "Rank by items failed among the rows of the same period; 1 = failed most.",
                ),
            ),
        ),
    ),
    fact_docs=FACT_DOCS,
    fact_exprs={
        "planned_month": "to_char(planned_local, 'YYYY-MM')",
        "planned_quarter": "to_char(planned_local, 'YYYY-\"Q\"Q')",
        "planned_year": "extract(year FROM planned_local)::int",
    },
    fact_views=(
        FactView(
            name="inspection_item_facts",
            table=ITEMS,
            unit="checklist item of an inspection",
            docs=ITEM_DOCS,
            exprs={
                "planned_month": "to_char(planned_local, 'YYYY-MM')",
                "planned_quarter": "to_char(planned_local, 'YYYY-\"Q\"Q')",
            },
        ),
    ),
    extra_views=(
        ExtraView(
            "inspection_failed_items_month",
            ("project", "region", "section", "item", "month"),
            "Checklist items failed per project and month (most-failed items)",
        ),
        ExtraView(
            "inspection_failed_sections_quarter",
            ("section", "quarter"),
            "Checklist sections failed company-wide per quarter (most-failed sections)",
        ),
        ExtraView(
            "inspection_grades_project_month",
            ("project", "region", "grade", "month"),
            "Grade distribution per project and month",
        ),
    ),
)
