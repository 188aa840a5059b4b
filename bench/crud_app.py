"""The plain CRUD service a user might build instead: one FastAPI endpoint that validates
the same ticket body and inserts one row with psycopg (a pooled connection, autocommit),
answering 201 with the id and a human number; and `GET /tickets/{id}`, one plain SELECT
of that row. No events, no audit, no authorisation: the baseline that `bench/run.py`
compares Qualtrace's `POST /tickets` and `GET /tickets/{id}` with, served by the same
uvicorn settings (`bench/serve.py`), or as N uvicorn worker processes
(`uvicorn bench.crud_app:create_app --factory --workers N`, bench/wrk_load.py)."""

from __future__ import annotations

import os
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

DDL = """CREATE TABLE IF NOT EXISTS crud_tickets (
    id uuid PRIMARY KEY, number bigserial UNIQUE, project text NOT NULL, kind text NOT NULL,
    channel text NOT NULL, priority text NOT NULL, category text NOT NULL, description text NOT NULL,
    reporter jsonb NOT NULL, status text NOT NULL DEFAULT 'received',
    received_at timestamptz NOT NULL DEFAULT now())"""


class Reporter(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    unit: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=1, max_length=30)


class ReceiveTicket(BaseModel):
    project: str = Field(min_length=1, max_length=50)
    kind: str
    channel: str
    priority: str
    category: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=4000)
    reporter: Reporter


def create_app(url: str | None = None, pool_size: int = 8) -> FastAPI:
    url = url or os.environ["DATABASE_URL"]
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=pool_size, max_size=pool_size, kwargs={"autocommit": True}, open=True
    )
    with pool.connection() as conn:
        conn.execute(DDL)
    app = FastAPI(title="crud baseline")

    @app.post("/tickets", status_code=201)
    def receive(body: ReceiveTicket) -> dict[str, Any]:
        with pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO crud_tickets (id, project, kind, channel, priority, category, description, reporter)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id, number",
                (
                    uuid.uuid4(),
                    body.project,
                    body.kind,
                    body.channel,
                    body.priority,
                    body.category,
                    body.description,
                    Jsonb(body.reporter.model_dump()),
                ),
            ).fetchone()
        assert row is not None
        return {"id": str(row[0]), "number": f"TK-{row[1]:06d}", "status": "received"}

    @app.get("/tickets/{ticket_id}")
    def read(ticket_id: uuid.UUID) -> dict[str, Any]:
        with pool.connection() as conn:
            row = conn.execute(
                "SELECT id, number, project, kind, channel, priority, category, description,"
                " reporter, status, received_at FROM crud_tickets WHERE id = %s",
                (ticket_id,),
            ).fetchone()
        if row is None:
            raise HTTPException(404, "no such ticket")
        return {
            "id": str(row[0]),
            "number": f"TK-{row[1]:06d}",
            "project": row[2],
            "kind": row[3],
            "channel": row[4],
            "priority": row[5],
            "category": row[6],
            "description": row[7],
            "reporter": row[8],
            "status": row[9],
            "received_at": row[10].isoformat(),
        }

    return app
