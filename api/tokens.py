"""Local API tokens: random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg

from application.security import ROLES, Principal


class TokenError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, url: str) -> None:
        self.url = url

    def create(
        self,
        user_id: str,
        name: str,
        role: str,
        projects: list[str] | None = None,
        region: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Return (token id, secret token). The secret is not stored."""
        if role not in ROLES:
            raise TokenError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
        if not user_id.strip() or not name.strip():
            raise TokenError("user id and name are required")
        if projects and region:
            raise TokenError("a token is scoped to projects or to a region, not both")
        token_id = secrets.token_hex(8)
        token = f"qt_{token_id}_{secrets.token_urlsafe(32)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, token_hash, user_id, name, role, projects, region, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (token_id, hash_token(token), user_id, name, role, list(projects or []), region, expires_at),
            )
        return token_id, token

    def revoke(self, token_id: str) -> bool:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE id=%s AND revoked_at IS NULL", (token_id,)
            )
            return cur.rowcount == 1

    def list(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(
                "SELECT id, user_id, name, role, projects, region, created_at, expires_at, revoked_at"
                " FROM api_tokens ORDER BY created_at"
            )
            return list(cur.fetchall())

    def principal(self, conn: psycopg.Connection[Any], token: str) -> Principal | None:
        row = conn.execute(
            "SELECT id, user_id, name, role, projects, region FROM api_tokens WHERE token_hash=%s"
            " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            (hash_token(token),),
        ).fetchone()
        if row is None:
            return None
        return Principal(id=row[1], name=row[2], role=row[3], projects=tuple(row[4] or ()), region=row[5], token_id=row[0])
