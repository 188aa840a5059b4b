"""A revocation made by ANOTHER process (the token CLI while `qualtrace serve` runs) is
honoured by the service on the very next request, although the service remembers
accepted tokens (store/principal_cache.py):

- the revoker sends `NOTIFY qualtrace_tokens` in the revoking transaction and waits until
  every listening service has acknowledged dropping the token, so the tests below assert
  401 right after the revoke returns, with no waiting;
- while the service's listener is not listening (its connection killed), its cache does not
  answer, and after it reconnects nothing remembered from before is trusted.

To make a revoke in this test process behave like one from another process, the revoker's
in-process shortcut (`forget_everywhere`) is switched off; the subprocess tests need no such
trick. The only waits are bounded polls for a state change that is in flight outside the
test's control (the listener noticing that its connection was killed, or (re)establishing
LISTEN); each is explained where it is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.auth import Authenticator
from api.tokens import TokenStore
from store import principal_cache
from store.principal_cache import LISTENER_NAME, PrincipalCache, RevocationListener
from tests.e2e.test_security_identity import bearer, jwks_file, keys, settings, sign  # noqa: F401  (fixtures)

QUALTRACE = [sys.executable, "-m", "qualtrace.cli"]


def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """A bounded poll for something happening in another thread or process."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def service(api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The API with its revocation listener listening, and revokes in this process that do
    NOT touch this process's caches directly (as if they ran in another process)."""
    # Start-up: the listener connects in its own thread; until it listens the cache is off.
    assert api.client.app.state.token_listener.listening.wait(15)
    monkeypatch.setattr(principal_cache, "forget_everywhere", lambda token_id: None)
    # Entries that stay fresh for an hour: what drops them below is the notification, not age.
    cache = PrincipalCache(seconds=3600)
    api.client.app.state.token_listener.attach(cache)
    api.client.app.state.authenticator = Authenticator(api.container, cache=cache)
    return api


def _cached(api: Any, token: str) -> bool:
    return api.client.app.state.authenticator.cached(token) is not None


def _accepted_and_cached(api: Any, token: str) -> None:
    assert api.client.get("/tickets", headers=bearer(token)).status_code == 200
    assert _cached(api, token)  # the next request would be answered from memory


def test_a_local_token_revoked_through_another_connection_is_refused_on_the_next_request(
    service: Any,
) -> None:
    store = TokenStore(service.container.url)
    token_id, token = store.create("u-rev", "Rev", "auditor")
    _, other = store.create("u-keep", "Keep", "auditor")
    _accepted_and_cached(service, token)
    _accepted_and_cached(service, other)
    assert store.revoke(token_id)
    r = service.client.get("/tickets", headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert _cached(service, other)  # only that token was dropped
    assert service.client.get("/tickets", headers=bearer(other)).status_code == 200


def test_a_jwt_revoked_through_another_connection_is_refused_on_the_next_request(
    service: Any,
    keys: dict[str, Any],  # noqa: F811
) -> None:
    from api.auth_jwt import RevokedJwts

    jti = str(uuid.uuid4())
    token = sign(keys, jti=jti)
    _accepted_and_cached(service, token)
    assert RevokedJwts(service.container.url).revoke(jti, "lost laptop")
    r = service.client.get("/tickets", headers=bearer(token))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*QUALTRACE, "token", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_token_cli_in_another_process_revokes_at_once(
    service: Any,
    keys: dict[str, Any],  # noqa: F811
) -> None:
    url = service.container.url
    token_id, token = TokenStore(url).create("u-cli", "Cli", "auditor")
    jti = str(uuid.uuid4())
    jwt_token = sign(keys, jti=jti)
    _accepted_and_cached(service, token)
    _accepted_and_cached(service, jwt_token)

    done = _cli(url, "revoke", token_id)
    assert done.returncode == 0, done.stderr
    assert service.client.get("/tickets", headers=bearer(token)).status_code == 401
    assert service.client.get("/tickets", headers=bearer(jwt_token)).status_code == 200

    done = _cli(url, "revoke-jwt", jti)
    assert done.returncode == 0, done.stderr
    assert service.client.get("/tickets", headers=bearer(jwt_token)).status_code == 401


def test_while_the_listener_is_cut_off_the_cache_does_not_answer(service: Any) -> None:
    listener = service.client.app.state.token_listener
    url = service.container.url
    token_id, token = TokenStore(url).create("u-cut", "Cut", "auditor")
    _accepted_and_cached(service, token)
    pid, sessions = listener.backend_pid, listener.sessions

    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)
    # The listener notices on its own thread, within moments: wait for that (bounded). From
    # then on, whether it is still reconnecting or already listening again, the entry it
    # could not hear about is gone.
    _until(lambda: listener.backend_pid != pid, "the listener to notice its connection was killed")
    assert not _cached(service, token)
    # A revocation nobody heard (no listener was connected): SQL without NOTIFY.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (token_id,))
    assert service.client.get("/tickets", headers=bearer(token)).status_code == 401

    # It reconnects by itself (short backoff) and the cache answers again.
    _until(listener.listening.is_set, "the listener to LISTEN again")
    assert listener.sessions > sessions and listener.backend_pid not in (None, pid)
    _, fresh = TokenStore(url).create("u-fresh", "Fresh", "auditor")
    _accepted_and_cached(service, fresh)
    assert service.client.get("/tickets", headers=bearer(token)).status_code == 401


def test_a_listener_that_cannot_connect_leaves_the_cache_off_and_requests_correct(api: Any) -> None:
    cache = PrincipalCache()
    listener = RevocationListener(f"postgresql://nobody@127.0.0.1:{_closed_port()}/none", [cache])
    listener.start()
    try:
        api.client.app.state.authenticator = Authenticator(api.container, cache=cache)
        token_id, token = TokenStore(api.container.url).create("u-off", "Off", "auditor")
        for _ in range(3):
            assert api.client.get("/tickets", headers=bearer(token)).status_code == 200
            assert not _cached(api, token)
        assert not listener.listening.is_set() and listener.sessions == 0
        with psycopg.connect(api.container.url, autocommit=True) as conn:
            conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (token_id,))
        assert api.client.get("/tickets", headers=bearer(token)).status_code == 401
    finally:
        listener.stop()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: connections are refused


def test_qualtrace_serve_honours_a_cli_revoke_on_the_next_request(
    db_url: str, tmp_path: Path
) -> None:
    """As an operator (or an acceptance test) does it: `qualtrace serve` running, then
    `qualtrace token revoke ID` in another process, then a request."""
    from tests.integration.test_graceful_shutdown import _free_port, _wait_healthy

    token_id, token = TokenStore(db_url).create("u-ops", "Ops", "auditor")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "QUALTRACE_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [*QUALTRACE, "serve", "--port", str(port), "--no-projections"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)

        def listening() -> bool:
            with psycopg.connect(db_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = %s",
                    (LISTENER_NAME,),
                ).fetchone()
            return bool(row and row[0] == 1)

        # Start-up: the service's listener connects in the background (bounded poll); from
        # then on its cache answers, which is what this test is about.
        _until(listening, "the service to listen for revocations")
        with httpx.Client(base_url=base, headers=bearer(token), timeout=10) as client:
            for _ in range(3):
                assert client.get("/tickets").status_code == 200
            done = _cli(db_url, "revoke", token_id)
            assert done.returncode == 0, done.stderr
            assert client.get("/tickets").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
