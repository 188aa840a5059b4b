"""JWTs from the company's OIDC identity provider (PyJWT does the cryptography).

Accepted only when an issuer and keys (a JWKS URL or a JWKS file) are configured.
Signatures: RS256 or ES256 only, whatever the token's header asks for (so `none` and
HMAC-with-the-public-key confusion are impossible). Required claims: `iss` (the
configured issuer), `aud` (when an audience is configured), `exp`, `sub`, `jti`;
`exp`/`nbf`/`iat` are checked with a small leeway for clock skew. A token whose `jti`
is in `revoked_jwts` (`qualtrace token revoke-jwt JTI`) is refused, by every running service
once the command returns (see `store.principal_cache`).

Claims map to a principal: `sub` (configurable) → id, `name` (falling back to
`preferred_username`, then the id) → name, the role claim (a string, or a list holding
exactly one Qualtrace role) → role, the projects claim (a list or a comma/space
separated string) and the region claim → scope; neither means company-wide.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt

from application.security import ROLES, Principal
from store.tokens import RevokedJwtTable

log = logging.getLogger("qualtrace.auth")

ALLOWED_ALGORITHMS = ("RS256", "ES256")


class JwtRejected(Exception):
    """The token is not acceptable; the message says why (logged, never the token)."""


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class JwksFile:
    """Keys from a JWKS file, re-read when the file changes (key rotation)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mtime: float | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> Any:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except OSError as e:
                raise KeysUnavailable(f"JWKS file {self.path} unreadable") from e
            if self._keys is None or mtime != self._mtime:
                try:
                    self._keys = jwt.PyJWKSet.from_dict(json.loads(self.path.read_text()))
                except (ValueError, jwt.PyJWTError) as e:
                    raise KeysUnavailable(f"JWKS file {self.path} is not a key set") from e
                self._mtime = mtime
            keys = self._keys.keys
        return _pick(keys, kid)


class JwksUrl:
    """Keys from the provider's JWKS endpoint (cached; refetched for an unknown `kid`)."""

    #: At most one refetch for unknown `kid`s per this many seconds, so tokens with made-up
    #: kids cannot turn every request into a call to the identity provider.
    REFRESH_INTERVAL = 10.0

    def __init__(self, url: str) -> None:
        self.client = jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=5)
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> Any:
        try:
            keys = self.client.get_signing_keys(refresh=False)
            try:
                return _pick(keys, kid)
            except JwtRejected:
                with self._lock:
                    now = time.monotonic()
                    if now - self._last_refresh < self.REFRESH_INTERVAL:
                        raise
                    self._last_refresh = now
                return _pick(self.client.get_signing_keys(refresh=True), kid)
        except jwt.PyJWKClientConnectionError as e:
            raise KeysUnavailable("JWKS endpoint unreachable") from e
        except jwt.PyJWKClientError as e:
            raise JwtRejected(str(e)) from e


def _pick(keys: list[jwt.PyJWK], kid: str | None) -> Any:
    if kid is None:
        if len(keys) == 1:
            return keys[0].key
        raise JwtRejected("token has no kid and the key set has several keys")
    for k in keys:
        if k.key_id == kid:
            return k.key
    raise JwtRejected("no key with the token's kid")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s]+", value) if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v)]
    raise JwtRejected("scope claim must be a string or a list")


class JwtVerifier:
    def __init__(self, settings: Any, url: str) -> None:
        self.settings = settings
        self.url = url
        self.issuer: str = settings.jwt_issuer
        self.audience: str | None = settings.jwt_audience
        self.algorithms = [a for a in settings.jwt_algorithms if a in ALLOWED_ALGORITHMS] or list(
            ALLOWED_ALGORITHMS
        )
        self.leeway = int(settings.jwt_leeway_seconds)
        self.keys: JwksFile | JwksUrl = (
            JwksFile(settings.jwt_jwks_file)
            if settings.jwt_jwks_file
            else JwksUrl(settings.jwt_jwks_url)
        )

    @classmethod
    def from_settings(cls, settings: Any, url: str) -> JwtVerifier | None:
        if settings.jwt_issuer and (settings.jwt_jwks_file or settings.jwt_jwks_url):
            return cls(settings, url)
        return None

    def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise JwtRejected(f"malformed token: {type(e).__name__}") from None
        if header.get("alg") not in self.algorithms:
            raise JwtRejected(f"algorithm {header.get('alg')!r} not accepted")
        key = self.keys.key_for(header.get("kid"))
        required = ["exp", "iss", "jti", self.settings.jwt_claim_id]
        if self.audience:
            required.append("aud")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": required, "verify_aud": bool(self.audience)},
            )
        except jwt.PyJWTError as e:
            raise JwtRejected(f"{type(e).__name__}: {e}") from None

    def principal(self, conn: Any, token: str) -> Principal:
        return self.authenticate(conn, token)[0]

    def authenticate(self, conn: Any, token: str) -> tuple[Principal, datetime]:
        """The principal of a valid token, and when it stops being valid (exp + leeway)."""
        claims = self.claims(token)
        jti = str(claims["jti"])
        if RevokedJwtTable.contains(conn, jti):
            raise JwtRejected("token revoked")
        principal = principal_from_claims(claims, self.settings)
        try:
            valid_until = datetime.fromtimestamp(float(claims["exp"]) + self.leeway, timezone.utc)
        except (TypeError, ValueError, OverflowError, OSError):
            raise JwtRejected("exp must be a number") from None
        return principal, valid_until


def principal_from_claims(claims: dict[str, Any], settings: Any) -> Principal:
    user_id = str(claims.get(settings.jwt_claim_id) or "").strip()
    if not user_id:
        raise JwtRejected("no subject")
    name = str(
        claims.get(settings.jwt_claim_name) or claims.get("preferred_username") or user_id
    ).strip()
    raw_role = claims.get(settings.jwt_claim_role)
    roles = [r for r in _as_list(raw_role) if r in ROLES]
    if len(roles) != 1:
        raise JwtRejected("the role claim must name exactly one Qualtrace role")
    projects = tuple(_as_list(claims.get(settings.jwt_claim_projects)))
    region_claim = claims.get(settings.jwt_claim_region)
    region = str(region_claim).strip() if region_claim else None
    if projects and region:
        raise JwtRejected("a principal is scoped to projects or to a region, not both")
    return Principal(
        id=user_id[:200],
        name=name[:200],
        role=roles[0],
        projects=projects,
        region=region,
        token_id=f"jwt:{claims['jti']}",
    )


class RevokedJwts:
    """The list of revoked JWT ids (`jti`); rows are only ever added."""

    def __init__(self, url: str) -> None:
        self.url = url

    def revoke(self, jti: str, reason: str | None = None) -> bool:
        jti = jti.strip()
        if not jti:
            raise ValueError("jti is required")
        return RevokedJwtTable(self.url).add(jti, reason)
