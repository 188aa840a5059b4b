"""The HTTP part of bench/run.py alone, for `POST /tickets`: the API-only service (no
projection runners) and the CRUD baseline, in the same run, on a private PostgreSQL
cluster with a small organisation (the demo's regions and 24 projects, no history).

    python -m bench.http_commands [--levels 1,8,32] [--seconds 5] [--variants qualtrace_api_only,crud]

Figures are indicative on a shared machine: the load average is printed with them."""

from __future__ import annotations

import argparse
import json
import os
import uuid
from typing import Any

import psycopg
from psycopg import sql

from bench.run import PrivateServer, Server, load, log, ticket_body, with_db


def organisation(url: str) -> list[str]:
    from application.base import Call
    from qualtrace.bootstrap import bootstrap
    from qualtrace.demo import ADMIN, REGIONS, _projects
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=url, pool_size=2, run_projections=False), setup=True)
    try:
        call = Call(principal=ADMIN, correlation_id=str(uuid.uuid4()))
        for code, name in REGIONS:
            c.app.register_region(call, code, name)
        plist = _projects(24)
        for code, name, region, households in plist:
            c.app.register_project(call, code, name, region, households)
    finally:
        c.close()
    return [p[0] for p in plist]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--variants", default="qualtrace_api_only,crud")
    ap.add_argument("--admin-url", default=None)
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    private = None
    if args.admin_url is None:
        private = PrivateServer(26000 + os.getpid() % 1000)
        args.admin_url = private.url
    scratch = f"qt_bench_{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    try:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        url = with_db(args.admin_url, scratch)
        projects = organisation(url)
        from api.tokens import TokenStore

        desk = TokenStore(url).create("bench.desk", "李娜", "front_desk", [], None)[1]
        port = 19000 + os.getpid() % 1000
        for variant in args.variants.split(","):
            target = "crud" if variant == "crud" else "qualtrace"
            server = Server(target, url, port, *(["no-projections"] if variant == "qualtrace_api_only" else []))
            try:
                headers = {"Content-Type": "application/json"}
                if target == "qualtrace":
                    headers["Authorization"] = f"Bearer {desk}"
                load(port, 4, 1.0, lambda rng: ("POST", "/tickets", ticket_body(rng, projects)), headers, 201)
                out[variant] = []
                for clients in levels:
                    res = load(port, clients, args.seconds,
                               lambda rng: ("POST", "/tickets", ticket_body(rng, projects)), headers, 201)
                    out[variant].append(res)
                    log(f"http {variant} x{clients}: {res['per_second']}/s p50 {res['p50_ms']} p99 {res['p99_ms']}"
                        f" errors {res['errors']}")
            finally:
                server.stop()
                port += 1
    finally:
        if private is not None:
            private.stop()
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
