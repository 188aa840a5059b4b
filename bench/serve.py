"""Serve one benchmark target with the SAME uvicorn settings for both:

    python -m bench.serve qualtrace|crud PORT DATABASE_URL [no-projections]

`qualtrace`: the real service (API + projections following the store, as `qualtrace
serve` runs it); `crud`: bench/crud_app.py. One process, one event loop, sync endpoints
in uvicorn's thread pool, no access log."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn

UVICORN: dict[str, Any] = {
    "host": "127.0.0.1",
    "log_level": "warning",
    "access_log": False,
    "workers": 1,
    "timeout_graceful_shutdown": 5,
    "log_config": None,
}


def build(target: str, url: str, projections: bool = True) -> Any:
    if target == "crud":
        from bench.crud_app import create_app

        return create_app(url, pool_size=8), None
    from api.app import create_app as create_api
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    settings = Settings(
        database_url=url,
        pool_size=8,
        rate_limit_per_second=1e9,
        rate_limit_burst=10**9,
        log_level="WARNING",
    )
    c = bootstrap(settings, setup=False)
    if projections:
        c.start_projections()
    return create_api(c), c


def main() -> int:
    target, port, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.WARNING)
    app, container = build(target, url, projections="no-projections" not in sys.argv[4:])
    try:
        uvicorn.run(app, port=port, **UVICORN)
    finally:
        if container is not None:
            container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
