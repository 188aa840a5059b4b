"""KPI figures aggregated at query time from fact views, for the API and the reporting
schema alike (one SQL builder, so HTTP and SQL figures agree).

A `KpiSpec` names a fact view in `qt_read`, the dimensions a caller may group by and
*families* of measures. Each family places a fact in a period by one of its local
timestamps (its `anchor`: tickets received in the month, closed in the month …);
`stock` families are counted at each period's end instead (backlog, open, overdue).
Families are aggregated separately and joined on the dimensions.

Medians and p90s are `percentile_cont(…) WITHIN GROUP (ORDER BY …)`: real percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from projections.kpis.spec import (
    INTERVALS,
    TIME_SQL,
    Family,
    KpiSpec,
    Measure,
    UnknownDimension,
)


def _dim_sql(spec: KpiSpec, name: str, t: str, family: Family | None = None) -> sql.Composable:
    if name in TIME_SQL:
        return sql.SQL(TIME_SQL[name].format(t=t))
    if name == "project":
        return sql.Identifier(spec.project_col)
    if name == "region":
        return sql.Identifier(spec.region_col)
    if family is not None and name in family.dims:
        return sql.SQL(family.dims[name])
    return sql.SQL(spec.dims[name])


def _partition(spec: KpiSpec, fam: Family, names: Sequence[str]) -> str:
    """`PARTITION BY` the grouped dimensions other than project and region: a rank
    (`{partition}` in a measure) orders projects or regions within each period/kind."""
    parts = [g for g in names if g not in fam.ranked]
    if not parts:
        return ""
    exprs = []
    for g in parts:
        if g in TIME_SQL:
            exprs.append(TIME_SQL[g].format(t=fam.anchor))
        else:
            exprs.append(fam.dims.get(g) or spec.dims[g])
    return "PARTITION BY " + ", ".join(exprs)


def _lit(value: Any) -> sql.Composable:
    if isinstance(value, sql.Composable):
        return value
    if value is None:
        return sql.SQL("NULL")
    if isinstance(value, datetime):
        return sql.SQL("{}::timestamp").format(
            sql.Literal(value.replace(tzinfo=None).isoformat(sep=" "))
        )
    return sql.Literal(value)


def _measure_sql(m: Measure, partition: str, end: sql.Composable) -> sql.Composable:
    """A measure's SQL: `{partition}` is the rank's PARTITION BY, `{end}` the local time
    the figures are taken at (for "decided by now" measures)."""
    expr = m.expr.replace("{partition}", partition)
    if "{end}" in expr:
        return sql.SQL(expr).format(end=end)
    return sql.SQL(expr)


def kpi_query(
    spec: KpiSpec,
    group_by: Sequence[str],
    *,
    projects: Sequence[str] | None = None,
    region: str | None = None,
    scope: tuple[Sequence[str] | None, str | None] = (None, None),
    start: datetime | None = None,
    end: datetime | sql.Composable | None = None,
    filters: dict[str, Sequence[str]] | None = None,
    schema: str = "qt_read",
) -> sql.Composed:
    """The KPI rows of `spec` grouped by `group_by`, for facts in [start, end) local time.

    `projects`/`region` filter; `filters` restrict further dimensions (`{"kind": ["repair"]}`);
    `scope` (projects, region) is the caller's scope: a fact is visible if its project is
    listed or it lies in the region (both None: everything). `end` may be an SQL expression
    (the reporting views use the current local time). Stock families are measured at the
    end of each period, or at `end` without a time dimension. A family that lacks a grouped
    or filtered dimension is left out, with its measures. `schema` holds the fact tables
    (the `qt_read` views; the report cells read one generation's tables directly).
    """
    filters = {k: list(v) for k, v in (filters or {}).items() if v}
    where: list[sql.Composable] = []
    pcol, rcol = sql.Identifier(spec.project_col), sql.Identifier(spec.region_col)
    if projects:
        where.append(sql.SQL("{} = ANY({})").format(pcol, sql.Literal(list(projects))))
    if region:
        where.append(sql.SQL("{} = {}").format(rcol, sql.Literal(region)))
    scope_projects, scope_region = scope
    if scope_projects is not None or scope_region is not None:
        parts: list[sql.Composable] = []
        if scope_projects:
            parts.append(sql.SQL("{} = ANY({})").format(pcol, sql.Literal(list(scope_projects))))
        if scope_region:
            parts.append(sql.SQL("{} = {}").format(rcol, sql.Literal(scope_region)))
        where.append(
            sql.SQL("(") + sql.SQL(" OR ").join(parts or [sql.SQL("FALSE")]) + sql.SQL(")")
        )

    names = list(group_by)
    included = [fam for fam in spec.families if spec.supports(fam, [*names, *filters])]
    if not included:
        raise UnknownDimension(
            ",".join([*names, *filters]),
            spec.group_dims,
            f"no {spec.kind} figures combine the dimensions {', '.join([*names, *filters])}",
        )

    time_dims = [g for g in group_by if g in TIME_SQL]
    unit = next((u for u in ("month", "quarter", "year") if u in time_dims), None)
    lo = _lit(start) if start is not None else sql.SQL("'-infinity'::timestamp")
    hi = _lit(end) if end is not None else sql.SQL("'infinity'::timestamp")

    ctes: list[sql.Composable] = []
    fam_names: dict[int, str] = {}
    for i, fam in enumerate(spec.families):
        if fam not in included:
            continue
        fname, src = f"fam{i}", f"f{i}"
        fam_names[i] = fname
        fwhere = list(where)
        for dim, values in filters.items():
            fwhere.append(
                sql.SQL("({})::text = ANY({})").format(
                    _dim_sql(spec, dim, fam.anchor, fam), sql.Literal(values)
                )
            )
        ctes.append(
            sql.SQL("{} AS (SELECT * FROM {} WHERE {})").format(
                sql.Identifier(src),
                sql.Identifier(schema, fam.facts or spec.facts),
                sql.SQL(" AND ").join(fwhere) if fwhere else sql.SQL("TRUE"),
            )
        )
        partition = _partition(spec, fam, names)
        measures = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(_measure_sql(m, partition, hi), sql.Identifier(m.name))
            for m in fam.measures
        )
        if fam.until is None:
            dims = [
                sql.SQL("{} AS {}").format(_dim_sql(spec, g, fam.anchor, fam), sql.Identifier(g))
                for g in names
            ]
            cond = sql.SQL("{a} >= {lo} AND {a} < {hi} AND ({w})").format(
                a=sql.Identifier(fam.anchor), lo=lo, hi=hi, w=sql.SQL(fam.where)
            )
            source: sql.Composable = sql.Identifier(src)
        else:
            dims = [
                sql.SQL("{} AS {}").format(
                    _dim_sql(spec, g, "p.p_start", fam)
                    if g in TIME_SQL
                    else _dim_sql(spec, g, fam.anchor, fam),
                    sql.Identifier(g),
                )
                for g in names
            ]
            if unit is not None:
                periods = f"periods{i}"
                first = sql.SQL(
                    "coalesce({}, (SELECT min({a}) FROM {f} WHERE {a} IS NOT NULL))"
                ).format(_lit(start), a=sql.Identifier(fam.anchor), f=sql.Identifier(src))
                last = _lit(end) if end is not None else sql.SQL("localtimestamp")
                ctes.append(
                    sql.SQL(
                        "{periods} AS (SELECT p AS p_start, least(p + interval {iv}, {last}) AS p_end"
                        " FROM generate_series(date_trunc({unit}, {first}), {last} - interval '1 microsecond',"
                        " interval {iv}) p)"
                    ).format(
                        periods=sql.Identifier(periods),
                        iv=sql.Literal(INTERVALS[unit]),
                        unit=sql.Literal(unit),
                        first=first,
                        last=last,
                    )
                )
                source = sql.SQL(
                    "{f} JOIN {periods} p ON {f}.{a} < p.p_end AND ({f}.{u} IS NULL OR {f}.{u} >= p.p_end)"
                ).format(
                    f=sql.Identifier(src),
                    periods=sql.Identifier(periods),
                    a=sql.Identifier(fam.anchor),
                    u=sql.Identifier(fam.until),
                )
                cond = sql.SQL(fam.where)
            else:
                stock_end = _lit(end) if end is not None else sql.SQL("'infinity'::timestamp")
                source = sql.Identifier(src)
                cond = sql.SQL("{a} < {e} AND ({u} IS NULL OR {u} >= {e}) AND ({w})").format(
                    a=sql.Identifier(fam.anchor),
                    u=sql.Identifier(fam.until),
                    e=stock_end,
                    w=sql.SQL(fam.where),
                )
        select = sql.SQL(", ").join([*dims, measures])
        group = (
            sql.SQL(" GROUP BY ")
            + sql.SQL(", ").join(sql.SQL(str(k + 1)) for k in range(len(names)))
            if names
            else sql.SQL("")
        )
        ctes.append(
            sql.SQL("{} AS (SELECT {} FROM {} WHERE {}{})").format(
                sql.Identifier(fname), select, source, cond, group
            )
        )

    outs: list[sql.Composable] = [sql.Identifier(g) for g in names]
    for i, fam in enumerate(spec.families):
        for m in fam.measures:
            if i not in fam_names:
                continue
            ref = sql.Identifier(fam_names[i], m.name)
            outs.append(
                sql.SQL("coalesce({}, 0) AS {}").format(ref, sql.Identifier(m.name))
                if m.count
                else sql.SQL("{} AS {}").format(ref, sql.Identifier(m.name))
            )
    fnames = list(fam_names.values())
    joined: sql.Composable = sql.Identifier(fnames[0])
    for fname in fnames[1:]:
        if names:
            joined = sql.SQL("{} FULL JOIN {} USING ({})").format(
                joined, sql.Identifier(fname), sql.SQL(", ").join(map(sql.Identifier, names))
            )
        else:
            joined = sql.SQL("{} CROSS JOIN {}").format(joined, sql.Identifier(fname))
    order = (
        sql.SQL(" ORDER BY ")
        + sql.SQL(", ").join(sql.SQL("{} NULLS FIRST").format(sql.Identifier(g)) for g in names)
        if names
        else sql.SQL("")
    )
    return sql.SQL("WITH {} SELECT {} FROM {}{}").format(
        sql.SQL(", ").join(ctes), sql.SQL(", ").join(outs), joined, order
    )


def plain(value: Any) -> Any:
    """A JSON/CSV-friendly plain number (Decimal -> float)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    return value
