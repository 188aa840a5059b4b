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
- and a few single connections: the NOTIFY sender, the token revocation listener and
  the read-position listener (API, `store.read_positions`), the two projection groups'
  connection and LISTEN each, the KPI cell refresher and the NOTIFY sender (worker).
"""

from __future__ import annotations

import psycopg

API_SINGLES = 3
WORKER_SINGLES = 6


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
    """The connections this role may open: `max_connections` less the reserved ones for a
    non-superuser (and its own CONNECTION LIMIT), and whether it is a superuser."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " r.rolsuper, r.rolconnlimit FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
    assert row is not None
    max_conn, reserved, superuser, limit = row
    room = max_conn if superuser else max_conn - reserved
    if limit is not None and limit >= 0:
        room = min(room, limit)
    return int(room), bool(superuser)


def warning(url: str, api_processes: int, pool_size: int, worker: bool) -> str | None:
    """What to tell the operator when the pools may need more than the server allows."""
    try:
        room, _ = allowed(url)
    except psycopg.Error:
        return None  # the service's own start will say what is wrong with the database
    need = most(api_processes, pool_size, worker)
    if need <= room:
        return None
    fit = largest_pool_size(api_processes, room, worker)
    return (
        f"warning: {api_processes} API process(es) and {'a' if worker else 'no'} worker with"
        f" QUALTRACE_POOL_SIZE={pool_size} may open up to {need} database connections, but"
        f" the server allows {room}: after a burst the API processes can hold them all and"
        f" the worker cannot connect (the read side stops). Set QUALTRACE_POOL_SIZE={fit}"
        f" or lower, or raise max_connections (docs/faults.md)"
    )
