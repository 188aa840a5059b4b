"""What every read query shares: rows as dicts, a caller's scope as SQL, keyset pages.

Read functions take the connection pool (`psycopg_pool.ConnectionPool`) and answer plain
rows (dicts, column name -> value); the API turns them into JSON and opaque cursors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

#: The caller's scope as `Principal.scope_filter()` gives it: (projects, region), both
#: None for company-wide.
Scope = tuple[Sequence[str] | None, str | None]

Row = dict[str, Any]


def fetch_all(pool: Any, query: str | sql.Composable, params: Any = ()) -> list[Row]:
    """Every row of one read query."""
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def fetch_one(pool: Any, query: str | sql.Composable, params: Any = ()) -> Row | None:
    """The first row of one read query, or None."""
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchone()


def scope_clause(
    scope: Scope, project_col: str = "project", region_col: str = "region"
) -> tuple[sql.Composable, list[Any]]:
    """`(project = ANY(%s) OR region = %s)` for a scoped caller, `TRUE` for company-wide."""
    projects, region = scope
    if projects is None and region is None:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if projects:
        parts.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(project_col)))
        params.append(list(projects))
    if region:
        parts.append(sql.SQL("{} = %s").format(sql.Identifier(region_col)))
        params.append(region)
    return sql.SQL("(") + sql.SQL(" OR ").join(parts) + sql.SQL(")"), params


@dataclass(frozen=True)
class Page:
    """Up to `limit` rows and whether more follow (the API makes the next cursor)."""

    rows: list[Row]
    more: bool


def page_of(rows: list[Row], limit: int) -> Page:
    """Rows fetched with `LIMIT limit + 1` -> a page of `limit`."""
    return Page(rows[:limit], len(rows) > limit)


def keyset_page(
    pool: Any,
    view: str,
    where: Sequence[sql.Composable],
    params: Sequence[Any],
    order_col: str,
    limit: int,
    after: Sequence[Any] | None = None,
    descending: bool = True,
    id_col: str = "id",
) -> Page:
    """`SELECT * FROM qt_read.<view>` filtered by `where`, ordered by (`order_col`, id),
    starting after the (order value, id) pair `after`."""
    clauses = list(where) or [sql.SQL("TRUE")]
    values = list(params)
    op = "<" if descending else ">"
    if after is not None:
        clauses.append(
            sql.SQL("({}, {}::text) " + op + " (%s, %s)").format(
                sql.Identifier(order_col), sql.Identifier(id_col)
            )
        )
        values.extend(after)
    direction = sql.SQL("DESC" if descending else "ASC")
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} {}, {}::text {} LIMIT %s").format(
        sql.Identifier("qt_read", view),
        sql.SQL(" AND ").join(clauses),
        sql.Identifier(order_col),
        direction,
        sql.Identifier(id_col),
        direction,
    )
    values.append(limit + 1)
    return page_of(fetch_all(pool, query, values), limit)


def list_page(
    pool: Any,
    view: str,
    scope: Scope,
    filters: dict[str, Any],
    order_col: str,
    limit: int,
    after: Sequence[Any] | None = None,
) -> Page:
    """A list view in the caller's scope, with `column = value` filters (None: no filter),
    newest first."""
    where, params = scope_clause(scope)
    clauses: list[sql.Composable] = [where]
    for col, value in filters.items():
        if value is None:
            continue
        clauses.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
        params.append(value)
    return keyset_page(pool, view, clauses, params, order_col, limit, after)
