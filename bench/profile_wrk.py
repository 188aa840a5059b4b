"""Where an API process spends its CPU under wrk: `py-spy` (PyPI) samples every API
process of `qualtrace serve --workers N` while `bench/wrk_load.py`'s wrk scripts drive
`POST /tickets` then `GET /tickets/{id}`, and the functions are printed by share of the
samples (own time, and inclusive).

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile_wrk --gil [--only get]

A private PostgreSQL cluster is started for the run (as `bench.run` does) unless
`--admin-url` names a server, where a scratch database is created and dropped. Run it before and
after a change; the figures are shares of samples, not times (the machine is shared).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import log, with_db
from bench.wrk_load import _free_port, _ids, prepare, run_wrk, start_qualtrace


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    return found


def record(pids: list[int], seconds: float, gil: bool) -> list[Path]:
    """`py-spy record` of each pid (collapsed stacks), in parallel; the files written."""
    out: list[Path] = []
    procs = []
    for pid in pids:
        f = Path(tempfile.mkstemp(prefix=f"qt-spy-{pid}-", suffix=".txt")[1])
        out.append(f)
        argv = [py_spy(), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250"]
        argv += ["-f", "raw", "-o", str(f), "--nonblocking"]
        if gil:
            argv.append("--gil")
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait()
    return out


def summarise(files: list[Path], top: int = 30) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            own[_short(frames[-1])] += n
            for name in {_short(fr) for fr in frames}:
                inclusive[name] += n
    lines = [f"{total} samples"]
    lines.append("own %   function")
    lines += [f"{100 * n / total:5.1f}   {name}" for name, n in own.most_common(top)]
    lines.append("incl %  function")
    lines += [f"{100 * n / total:5.1f}   {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (file.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--admin-url", default=None, help="server to use (default: a private cluster, as bench.run)"
    )
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    ap.add_argument("--only", default="post,get")
    ap.add_argument("--keep", action="store_true", help="keep the collapsed stacks files")
    args = ap.parse_args()
    private = None
    if args.admin_url is None:
        from bench.run import PrivateServer

        private = PrivateServer(26000 + os.getpid() % 1000)
        args.admin_url = private.url
    try:
        profile(args)
    finally:
        if private is not None:
            private.stop()


def profile(args: argparse.Namespace) -> None:
    scratch = f"qt_prof_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = with_db(args.admin_url, scratch)
    try:
        tokens = prepare(url)
        run_id = uuid.uuid4().hex[:8]
        projects = "WK01,WK02,WK03,WK04"
        port = _free_port()
        service = start_qualtrace(url, args.processes, port)
        try:
            api_pids = [
                p
                for p in service.pids()[1:]
                if b"--projections-only" not in Path(f"/proc/{p}/cmdline").read_bytes()
            ]
            post_args = [tokens["desk"], run_id, projects]
            run_wrk(port, "post_tickets.lua", [tokens["desk"], f"{run_id}w", projects], 8, 2)
            results: dict[str, Any] = {}

            def drive(script: str, wrk_args: list[str], key: str) -> None:
                results[key] = run_wrk(port, script, wrk_args, args.connections, args.seconds + 2)

            for what in args.only.split(","):
                if what == "get":
                    ids_file = Path(tempfile.mkstemp(prefix="qt-wrk-ids-")[1])
                    ids = _ids(
                        url,
                        "SELECT originator_id FROM qualtrace_events WHERE topic ="
                        " 'domain.tickets:Ticket.Received' ORDER BY notification_id DESC LIMIT %s",
                    )
                    ids_file.write_text("\n".join(ids) + "\n")
                    script, wrk_args = "get_ticket.lua", [tokens["reader"], str(ids_file)]
                    run_wrk(port, script, wrk_args, 8, 2)
                else:
                    script, wrk_args = "post_tickets.lua", post_args
                t = threading.Thread(target=drive, args=(script, wrk_args, what))
                t.start()
                files = record(api_pids, args.seconds, args.gil)
                t.join()
                r = results[what]
                log(f"{what}: {r['per_second']}/s, errors {r['errors']}")
                print(f"== {what.upper()} (API processes {api_pids}, gil={args.gil})")
                print(summarise(files))
                if args.keep:
                    print("stacks:", *files)
                else:
                    for f in files:
                        f.unlink(missing_ok=True)
        finally:
            service.stop()
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )


if __name__ == "__main__":
    main()
