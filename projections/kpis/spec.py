"""What a family of KPIs is: the fact view it reads, the dimensions a caller may group
and filter by, and its *families* of measures, each placing a fact in a period by one
of its local timestamps (its `anchor`: tickets received in the month, closed in the
month …); `stock` families are counted at each period's end instead (backlog, open,
overdue). `projections.kpis.query` turns a spec into SQL.

Medians and p90s are `percentile_cont(…) WITHIN GROUP (ORDER BY …)`: real percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

TIME_DIMS = ("year", "quarter", "month")

#: SQL for a time dimension of a local timestamp expression `{t}`.
TIME_SQL = {
    "month": "to_char({t}, 'YYYY-MM')",
    "quarter": "to_char({t}, 'YYYY-\"Q\"Q')",
    "year": "extract(year FROM {t})::int",
}

INTERVALS = {"month": "1 month", "quarter": "3 months", "year": "1 year"}

TIME_DOC = {
    "month": "Calendar month in the company time zone, YYYY-MM.",
    "quarter": "Calendar quarter in the company time zone, YYYY-Qn.",
    "year": "Calendar year in the company time zone.",
}


def pct(num: str, den: str) -> str:
    """SQL for `num` as a percentage of `den`, two decimals; NULL when `den` is 0."""
    return f"round((100.0 * ({num}) / nullif({den}, 0))::numeric, 2)"


def percentile(p: float, col: str, scale: float = 1) -> str:
    """SQL for the `p` percentile of `col` (divided by `scale`), two decimals."""
    divided = f" / {scale}" if scale != 1 else ""
    return f"round((percentile_cont({p}) WITHIN GROUP (ORDER BY {col}){divided})::numeric, 2)"


@dataclass(frozen=True)
class Measure:
    name: str
    expr: str  # an aggregate over the family's rows
    doc: str
    count: bool = False  # absent in a period means 0, not unknown


@dataclass(frozen=True)
class Family:
    anchor: str  # local timestamp column placing a fact in a period
    measures: tuple[Measure, ...]
    where: str = "TRUE"
    #: Stock measured at each period's end: facts with anchor < end and (until IS NULL or until >= end).
    until: str | None = None
    #: Fact view in qt_read this family reads (default: the spec's `facts`).
    facts: str | None = None
    #: Dimensions only this family has (name -> SQL); a family is left out of a query
    #: (with its measures) when grouped or filtered by a dimension it does not have.
    dims: dict[str, str] = field(default_factory=dict)
    #: Dimensions a `{partition}` rank orders (left out of its PARTITION BY).
    ranked: tuple[str, ...] = ("project", "region")


@dataclass(frozen=True)
class FactView:
    """A further reporting fact view: `reporting.<name>` over `qt_read.<table>`."""

    name: str
    table: str
    unit: str
    docs: dict[str, str]
    exprs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraView:
    """A further reporting KPI view: `reporting.<name>`, grouped by `group`."""

    name: str
    group: tuple[str, ...]
    doc: str


@dataclass(frozen=True)
class KpiSpec:
    kind: str  # as in /kpis/{kind}
    prefix: str  # reporting view names: <prefix>_facts, <prefix>_kpis_<level>_<period>
    unit: str  # what one fact row is, for the documentation
    facts: str  # view in qt_read
    dims: dict[str, str]  # name -> SQL expression over the facts
    dim_docs: dict[str, str]
    families: tuple[Family, ...]
    project_col: str = "project"
    region_col: str = "region"
    #: Columns of the reporting fact view -> description (no personal data).
    fact_docs: dict[str, str] = field(default_factory=dict)
    #: Computed columns of the reporting fact view -> SQL expression.
    fact_exprs: dict[str, str] = field(default_factory=dict)
    fact_views: tuple[FactView, ...] = ()
    #: Name of the main reporting fact view (default `<prefix>_facts`).
    facts_view: str | None = None
    extra_views: tuple[ExtraView, ...] = ()

    @property
    def group_dims(self) -> tuple[str, ...]:
        extra = [d for fam in self.families for d in fam.dims if d not in self.dims]
        return ("project", "region", *TIME_DIMS, *self.dims, *dict.fromkeys(extra))

    @property
    def filter_dims(self) -> tuple[str, ...]:
        """Dimensions a caller may filter on besides project and region (`kind=repair`)."""
        return tuple(d for d in self.group_dims if d not in ("project", "region", *TIME_DIMS))

    def supports(self, family: Family, names: Sequence[str]) -> bool:
        return all(
            n in TIME_SQL or n in ("project", "region") or n in self.dims or n in family.dims
            for n in names
        )

    @property
    def measures(self) -> list[Measure]:
        return [m for f in self.families for m in f.measures]


class UnknownDimension(ValueError):
    def __init__(self, name: str, allowed: Sequence[str], message: str | None = None) -> None:
        super().__init__(message or f"unknown dimension '{name}'; allowed: {', '.join(allowed)}")
        self.name = name
        self.allowed = list(allowed)


def parse_group_by(spec: KpiSpec, group_by: str | Sequence[str] | None) -> list[str]:
    if group_by is None:
        return []
    names = (
        [g.strip() for g in group_by.split(",")] if isinstance(group_by, str) else list(group_by)
    )
    out: list[str] = []
    for name in names:
        if not name:
            continue
        if name not in spec.group_dims:
            raise UnknownDimension(name, spec.group_dims)
        if name not in out:
            out.append(name)
    return out
