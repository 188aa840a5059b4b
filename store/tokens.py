"""Rows of `api_tokens` (`store.schema.SERVICE_TABLES`): local API tokens, stored only as
the SHA-256 of the secret. What a token may do (its role and scope) is the API's concern
(`api.tokens.TokenStore`); this module only reads and writes the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.principal_cache import revoke_and_notify
from store.schema import REVOKED_JWTS


@dataclass(frozen=True)
class TokenRow:
    """A valid token's stored grant."""

    id: str
    user_id: str
    name: str
    role: str
    projects: tuple[str, ...]
    region: str | None
    expires_at: datetime | None


class TokenTable:
    def __init__(self, url: str) -> None:
        self.url = url

    def insert(
        self,
        token_id: str,
        token_hash: str,
        user_id: str,
        name: str,
        role: str,
        projects: list[str],
        region: str | None,
        expires_at: datetime | None,
    ) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO api_tokens (id, token_hash, user_id, name, role, projects, region, expires_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (token_id, token_hash, user_id, name, role, projects, region, expires_at),
            )

    def revoke(self, token_id: str) -> bool:
        """Revoke: when this returns, this process and every running service refuse the token
        (`store.principal_cache.revoke_and_notify`)."""
        changed = revoke_and_notify(
            self.url,
            token_id,
            [
                (
                    "UPDATE api_tokens SET revoked_at = now() WHERE id=%s AND revoked_at IS NULL",
                    (token_id,),
                )
            ],
        )
        return changed == 1

    def list(self) -> list[dict[str, Any]]:
        with (
            psycopg.connect(self.url, autocommit=True) as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            cur.execute(
                "SELECT id, user_id, name, role, projects, region, created_at, expires_at, revoked_at"
                " FROM api_tokens ORDER BY created_at"
            )
            return list(cur.fetchall())

    @staticmethod
    def lookup(conn: psycopg.Connection[Any], token_hash: str) -> TokenRow | None:
        """The grant of a valid (not revoked, not expired) token."""
        row = conn.execute(
            "SELECT id, user_id, name, role, projects, region, expires_at FROM api_tokens WHERE token_hash=%s"
            " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            (token_hash,),
            prepare=True,
        ).fetchone()
        if row is None:
            return None
        return TokenRow(
            id=row[0],
            user_id=row[1],
            name=row[2],
            role=row[3],
            projects=tuple(row[4] or ()),
            region=row[5],
            expires_at=row[6],
        )


class RevokedJwtTable:
    """Rows of `revoked_jwts` (`store.schema.REVOKED_JWTS`): revoked JWT ids, only ever added."""

    def __init__(self, url: str) -> None:
        self.url = url

    def add(self, jti: str, reason: str | None = None) -> bool:
        """Revoke `jti`: when this returns, every running service refuses it
        (`store.principal_cache.revoke_and_notify`). False when it was revoked already."""
        changed = revoke_and_notify(
            self.url,
            f"jwt:{jti}",
            [
                (REVOKED_JWTS, ()),
                (
                    "INSERT INTO revoked_jwts (jti, reason) VALUES (%s, %s) ON CONFLICT (jti) DO NOTHING",
                    (jti, reason),
                ),
            ],
        )
        return changed == 1

    @staticmethod
    def contains(conn: psycopg.Connection[Any], jti: str) -> bool:
        """Whether `jti` was revoked."""
        return (
            conn.execute("SELECT 1 FROM revoked_jwts WHERE jti = %s", (jti,)).fetchone() is not None
        )
