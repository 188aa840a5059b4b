"""How many PostgreSQL connections `qualtrace serve` may open at most, and a warning at
start when that is more than the server allows (docs/faults.md, "Connections").

Every pool is bounded, so the service never opens more than this; but when the bound is
above `max_connections`, the API processes' pools can hold every slot after a burst and
the worker process then cannot connect at all: the read side stops until the API
processes give connections back (measured: with 4 API processes and
`max_connections=100`, projections did not move for 2 minutes after 300 clients).

Per process, with `QUALTRACE_POOL_SIZE` = P:
- the event store library's pool: P, growing to 2P (`POSTGRES_MAX_OVERFLOW` = P);
- the recorder's append connections: as many as that pool's maximum, 2P;
- the read pool (`Container.pool`): up to P;
- and single connections outside the pools (counted from the code, and measured by
  tests/integration/test_connection_budget.py):
  - API: the NOTIFY sender, the token revocation listener, the read-position listener
    (`store.read_positions`), the event feed's watch (a connection and its LISTEN) and
    an integrity report's own connection: 6;
  - worker: the four projection groups' connection and LISTEN each (read models,
    processes, circular process, notifications: 8), the KPI cell refresher, the
    integrity watcher's lock and verification (2), the NOTIFY sender, and the
    deliveries' pool (2) and LISTEN: 15.

`qualtrace serve` sizes P to fit when QUALTRACE_POOL_SIZE is not set (`fit`): the
default 8 is a ceiling, not a promise the server may not be able to keep.
"""

from __future__ import annotations

import psycopg

API_SINGLES = 6
WORKER_SINGLES = 15


def per_process(pool_size: int) -> int:
    """The pools' maxima in one process."""
    return 2 * pool_size + 2 * pool_size + pool_size


def most(api_processes: int, pool_size: int, worker: bool = True) -> int:
    """The most connections `serve --workers api_processes` opens."""
    api = api_processes * (per_process(pool_size) + API_SINGLES)
    return api + (per_process(pool_size) + WORKER_SINGLES if worker else 0)


def largest_pool_size(api_processes: int, allowed: int, worker: bool = True) -> int:
    """The largest QUALTRACE_POOL_SIZE whose `most` fits in `allowed` (at least 1)."""
    size = 1
    while most(api_processes, size + 1, worker) <= allowed:
        size += 1
    return size


def allowed(url: str) -> tuple[int, bool]:
    """The connections this role may open: `max_connections` less the reserved ones (and
    its own CONNECTION LIMIT), and whether it is a superuser."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " r.rolsuper, r.rolconnlimit FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
    assert row is not None
    max_conn, reserved, superuser, limit = row
    # The reserved slots stay free for a superuser too: they are how an operator gets in
    # (psql, pg_dump, a migration) when the service holds everything else.
    room = max_conn - reserved
    if limit is not None and limit >= 0:
        room = min(room, limit)
    return int(room), bool(superuser)


def fit(
    url: str, api_processes: int, pool_size: int, worker: bool, explicit: bool
) -> tuple[int, str | None]:
    """The pool size `serve` runs with, and what to tell the operator.

    Unset (`explicit` False): the largest size up to `pool_size` whose bound fits what the
    server allows, said in one line when it is smaller. Set by the operator: kept, with a
    warning when it may need more than the server allows."""
    try:
        room, _ = allowed(url)
    except psycopg.Error:
        return pool_size, None  # the service's own start will say what is wrong
    need = most(api_processes, pool_size, worker)
    if need <= room:
        return pool_size, None
    size = largest_pool_size(api_processes, room, worker)
    if explicit or most(api_processes, size, worker) > room:
        return pool_size, warning(room, api_processes, pool_size, worker)
    return size, (
        f"database connections: QUALTRACE_POOL_SIZE={size} (not {pool_size}), so that"
        f" {api_processes} API process(es){' and the worker' if worker else ''} open at most"
        f" {most(api_processes, size, worker)} of the {room} the server allows"
        " (docs/faults.md, Connections); set QUALTRACE_POOL_SIZE to choose"
    )


def warning(room: int, api_processes: int, pool_size: int, worker: bool) -> str:
    """What to tell the operator when the pools may need more than the server allows."""
    need = most(api_processes, pool_size, worker)
    size = largest_pool_size(api_processes, room, worker)
    advice = (
        f"Set QUALTRACE_POOL_SIZE={size} or lower, or raise max_connections"
        if most(api_processes, size, worker) <= room
        else f"Even QUALTRACE_POOL_SIZE=1 needs {most(api_processes, 1, worker)}: raise"
        " max_connections or run fewer API processes"
    )
    return (
        f"warning: {api_processes} API process(es) and {'a' if worker else 'no'} worker with"
        f" QUALTRACE_POOL_SIZE={pool_size} may open up to {need} database connections, but"
        f" the server allows {room}: after a burst the API processes can hold them all and"
        f" the worker cannot connect (the read side stops). {advice} (docs/faults.md)"
    )
