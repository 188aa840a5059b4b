"""Paged lists over the read side: scope-filtered, keyset-paginated with an opaque cursor."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from fastapi import HTTPException
from psycopg import sql
from psycopg.rows import dict_row

from application.base import Call
from application.security import can
from domain.errors import InvalidValue


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return values
    except ValueError:
        raise InvalidValue("cursor", "not a cursor this API issued") from None


def scope_clause(
    call: Call, project_col: str = "project", region_col: str = "region"
) -> tuple[sql.Composable, list[Any]]:
    projects, region = call.principal.scope_filter()
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


def list_rows(
    c: Any,
    call: Call,
    action: str,
    view: str,
    filters: dict[str, Any],
    order_col: str,
    limit: int,
    cursor: str | None,
    descending: bool = True,
    id_col: str = "id",
) -> dict[str, Any]:
    if not can(call.principal, action):
        raise HTTPException(403, f"role '{call.principal.role}' may not {action}")
    where, params = scope_clause(call)
    clauses: list[sql.Composable] = [where]
    for col, value in filters.items():
        if value is None:
            continue
        clauses.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
        params.append(value)
    op = "<" if descending else ">"
    if cursor:
        last_value, last_id = decode_cursor(cursor)
        clauses.append(
            sql.SQL("({}, {}::text) " + op + " (%s, %s)").format(
                sql.Identifier(order_col), sql.Identifier(id_col)
            )
        )
        params.extend([last_value, last_id])
    direction = sql.SQL("DESC" if descending else "ASC")
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} {}, {}::text {} LIMIT %s").format(
        sql.Identifier("qt_read", view),
        sql.SQL(" AND ").join(clauses),
        sql.Identifier(order_col),
        direction,
        sql.Identifier(id_col),
        direction,
    )
    params.append(limit + 1)
    with c.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last[order_col], str(last[id_col])])
    return {"items": [jsonable(r) for r in rows], "next_cursor": next_cursor}


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
        elif isinstance(v, Decimal):
            out[k] = int(v) if v == v.to_integral_value() else float(v)
        elif v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
            out[k] = str(v)
        else:
            out[k] = v
    return out
