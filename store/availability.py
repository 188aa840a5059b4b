"""Which failures mean "the database is not there right now" (docs/faults.md).

A restart, a failover, a full `max_connections`, a pool with no connection free in time:
the request did nothing wrong and the same request a moment later may succeed. The API
answers those 503 with Retry-After (api/errors.py), never 500. Everything else stays an
internal error.

psycopg's `OperationalError` covers exactly these: the server closed the connection or
refused a new one (`AdminShutdown`, `CannotConnectNow`, `TooManyConnections`, a refused
TCP connection), `psycopg_pool.PoolTimeout`, a query cancelled or a lock not granted in
time. The event store library translates them into its own `OperationalError` and
`InterfaceError` (after retrying them itself, `eventsourcing.utils.retry`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from eventsourcing.persistence import DatabaseError, InterfaceError, OperationalError

log = logging.getLogger("qualtrace.availability")


class PoolWaitExpired(DatabaseError):
    """No pooled connection came within `POOL_WAIT_SECONDS`.

    Deliberately not the library's `OperationalError`: its `retry` decorators try those
    ten times, and ten waits of a pool's timeout outlast the request deadline (a 504
    after 30 s instead of a 503 after 5 s while the database refuses connections)."""


#: Exception classes that mean the database is unavailable for now.
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    OperationalError,
    InterfaceError,
    PoolWaitExpired,
)

#: How long a caller waits for a pooled connection before it is told the database is
#: unavailable (a 503). The library's default is 30 s: the whole request deadline.
POOL_WAIT_SECONDS = 5.0

#: How long a pool keeps retrying one lost connection (psycopg_pool's `reconnect_timeout`,
#: 300 s by default, with a delay doubling from 1 s). After a longer outage the default
#: would leave the pool waiting out its backoff (16 s, 32 s, ...) while the server is back;
#: giving up early instead lets the next request that needs a connection open one at once.
RECONNECT_TIMEOUT_SECONDS = 3.0

#: What a client is told to wait before retrying (seconds): a restart takes about one.
RETRY_AFTER_SECONDS = 1


def unavailable(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, means the database is unavailable."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, UNAVAILABLE):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


#: Pools checked lately (id -> monotonic time): at most one check per pool and second.
_checked: dict[int, float] = {}
_checked_lock = threading.Lock()


def check_pools(*pools: Any, wait: bool = True) -> None:
    """After a failure that means the database went away: test every idle connection of
    these pools and drop the broken ones (`psycopg_pool.ConnectionPool.check`), so that
    the next callers get fresh connections instead of each meeting one more dead one.

    A restart leaves every idle pooled connection dead; without this, each is found one
    failure at a time (a 503 each, or a projection runner's 1 s retry each). At most once
    a second per pool; with `wait=False` in a thread of its own (a request's answer must
    not wait for it)."""
    now = time.monotonic()
    due = []
    with _checked_lock:
        for pool in pools:
            if pool is not None and now - _checked.get(id(pool), -1.0) >= 1.0:
                _checked[id(pool)] = now
                due.append(pool)
    if not due:
        return

    def check() -> None:
        for pool in due:
            try:
                pool.check()
            except Exception as e:  # noqa: BLE001 - a closed pool, or no server yet: next failure retries
                log.info("checking a connection pool failed: %s", e)

    if wait:
        check()
    else:
        threading.Thread(target=check, name="qualtrace-pool-check", daemon=True).start()
