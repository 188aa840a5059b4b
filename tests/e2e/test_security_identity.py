"""Identity: local API tokens and JWTs from the identity provider (RS256/ES256 keys served
as a JWKS file), expiry, not-before, revocation."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from qualtrace.settings import Settings

ISSUER = "https://id.example.com/realms/qualtrace"
AUDIENCE = "qualtrace-api"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def _jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algo.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, Any]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {"keys": [_jwk(keys["rsa"], "rsa-1", "RS256"), _jwk(keys["ec"], "ec-1", "ES256")]}
        )
    )
    return path


@pytest.fixture
def settings(db_url: str, jwks_file: Path) -> Settings:
    return Settings(
        database_url=db_url,
        pool_size=4,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_file=jwks_file,
        jwt_leeway_seconds=10,
    )


def sign(
    keys: dict[str, Any],
    key: str = "rsa",
    alg: str = "RS256",
    kid: str | None = "rsa-1",
    **claims: Any,
) -> str:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-42",
        "name": "Zhao Min",
        "qualtrace_role": "supervisor",
        "qualtrace_projects": ["P1"],
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(body, keys[key], algorithm=alg, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def test_a_valid_rs256_jwt_acts_as_the_principal_its_claims_name(
    api: Any, keys: dict[str, Any]
) -> None:
    api.setup_org()
    token = sign(keys)
    r = api.client.post("/tickets", json=TICKET, headers=bearer(token))
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    h = api.get(
        f"/audit/{number}", role="auditor", params={"min_position": r.json()["position"]}
    ).json()
    actor = h["events"][0]["actor"]
    assert actor == {"id": "u-42", "name": "Zhao Min", "role": "supervisor"}


def test_an_es256_jwt_is_accepted_and_its_scope_is_enforced(api: Any, keys: dict[str, Any]) -> None:
    api.setup_org()
    token = sign(keys, key="ec", alg="ES256", kid="ec-1", qualtrace_projects="P2")
    assert (
        api.client.post(
            "/tickets", json={**TICKET, "project": "P2"}, headers=bearer(token)
        ).status_code
        == 201
    )
    # P1 is outside this principal's scope: indistinguishable from an unknown project.
    r = api.client.post("/tickets", json=TICKET, headers=bearer(token))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"path": "project", "message": "unknown project code 'P1'"}]


BAD_CLAIMS = [
    # Times relative to when the test runs (a slow suite may reach it long after import).
    ("expired", {"exp": lambda now: now - 120}),
    ("not yet valid", {"nbf": lambda now: now + 600}),
    ("wrong issuer", {"iss": "https://evil.example.com"}),
    ("wrong audience", {"aud": "another-api"}),
    ("no jti", {"jti": None}),
    ("no expiry", {"exp": None}),
    ("unknown role", {"qualtrace_role": "superuser"}),
    ("two roles", {"qualtrace_role": ["supervisor", "admin"]}),
    ("projects and region", {"qualtrace_region": "SH"}),
]


def test_a_jwt_with_bad_claims_is_401(api: Any, keys: dict[str, Any]) -> None:
    for why, overrides in BAD_CLAIMS:
        now = int(time.time())
        claims = {k: v(now) if callable(v) else v for k, v in overrides.items()}
        r = api.client.get("/tickets", headers=bearer(sign(keys, **claims)))
        assert r.status_code == 401, why
        assert r.headers["content-type"].startswith("application/problem+json"), why


def test_expiry_is_checked_with_a_small_leeway_for_clock_skew(
    api: Any, keys: dict[str, Any]
) -> None:
    # 3 s past expiry is within the 10 s leeway; 60 s is not.
    assert (
        api.client.get("/tickets", headers=bearer(sign(keys, exp=int(time.time()) - 3))).status_code
        == 200
    )
    assert (
        api.client.get(
            "/tickets", headers=bearer(sign(keys, exp=int(time.time()) - 60))
        ).status_code
        == 401
    )


def test_a_jwt_signed_by_an_unknown_key_or_algorithm_is_401(api: Any, keys: dict[str, Any]) -> None:
    # Right kid, wrong key: the signature does not verify.
    assert api.client.get("/tickets", headers=bearer(sign(keys, key="other"))).status_code == 401
    # Unknown kid.
    assert api.client.get("/tickets", headers=bearer(sign(keys, kid="nope"))).status_code == 401
    # HS256 with the public key as the secret (algorithm confusion) and alg=none are refused.
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "qualtrace_role": "admin",
        "exp": now + 60,
        "jti": "j",
    }
    hs = jwt.encode(
        claims, "secret-secret-secret-secret-secret", algorithm="HS256", headers={"kid": "rsa-1"}
    )
    assert api.client.get("/tickets", headers=bearer(hs)).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"})
    assert api.client.get("/tickets", headers=bearer(unsigned)).status_code == 401


def test_a_revoked_jwt_is_401_from_the_cli_on(
    api: Any, keys: dict[str, Any], monkeypatch: Any
) -> None:
    from qualtrace import cli

    jti = str(uuid.uuid4())
    token = sign(keys, jti=jti)
    assert api.client.get("/tickets", headers=bearer(token)).status_code == 200
    monkeypatch.setenv("DATABASE_URL", api.container.url)
    assert cli.main(["token", "revoke-jwt", jti]) == 0
    r = api.client.get("/tickets", headers=bearer(token))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    # Revoking twice says so and changes nothing.
    assert cli.main(["token", "revoke-jwt", jti]) == 1


def test_local_tokens_keep_working_beside_jwts_and_can_be_revoked_by_the_cli(
    api: Any, monkeypatch: Any, capsys: Any
) -> None:
    from qualtrace import cli

    monkeypatch.setenv("DATABASE_URL", api.container.url)
    assert (
        cli.main(["token", "create", "--user", "qa.li", "--name", "Li Qa", "--role", "auditor"])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    token, token_id = out[-1], out[0].split()[1]
    assert api.client.get("/tickets", headers=bearer(token)).status_code == 200
    assert cli.main(["token", "revoke", token_id]) == 0
    assert api.client.get("/tickets", headers=bearer(token)).status_code == 401


def test_a_local_token_past_its_expiry_is_401(api: Any) -> None:
    from datetime import datetime, timedelta, timezone

    from api.tokens import TokenStore

    _, token = TokenStore(api.container.url).create(
        "old", "Old", "auditor", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)
    )
    assert api.client.get("/tickets", headers=bearer(token)).status_code == 401


def test_keys_from_a_jwks_url_are_cached_and_refetched_when_the_provider_rotates(
    keys: dict[str, Any],
) -> None:
    import http.server
    import threading

    from api.auth_jwt import JwtRejected, JwtVerifier

    served = {"keys": [_jwk(keys["rsa"], "rsa-1", "RS256")]}
    fetches = []

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            fetches.append(self.path)
            body = json.dumps(served).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        verifier = JwtVerifier(
            Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=url), ""
        )
        assert verifier.claims(sign(keys))["sub"] == "u-42"
        assert verifier.claims(sign(keys))["sub"] == "u-42"
        assert len(fetches) == 1  # cached
        # The provider rotates to a new key: the unknown kid triggers one refetch.
        served["keys"].append(_jwk(keys["ec"], "ec-1", "ES256"))
        assert verifier.claims(sign(keys, key="ec", alg="ES256", kid="ec-1"))["sub"] == "u-42"
        assert len(fetches) == 2
        # Made-up kids do not hammer the provider: at most one refetch per interval.
        for kid in ("made-up-1", "made-up-2", "made-up-3"):
            with pytest.raises(JwtRejected):
                verifier.claims(sign(keys, kid=kid))
        assert len(fetches) == 2
    finally:
        server.shutdown()
