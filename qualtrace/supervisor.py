"""`qualtrace serve`: one command, several processes (docs/operations.md).

The supervisor does no request work itself. It

1. starts the embedded PostgreSQL when DATABASE_URL is unset (once, here) and hands its URL
   to every child in the environment;
2. sets the schema up once, so children start with `QUALTRACE_SETUP_SCHEMA=false` and never
   race each other on DDL;
3. binds the listening socket once and starts N API children on it
   (`qualtrace serve --no-projections --fd FD`: the kernel hands each new connection to
   one of them), and ONE worker child (`qualtrace serve --projections-only`: projections,
   processes, deadline watcher, KPI cells);
4. restarts a child that dies, with an exponential backoff per slot (reset once the child
   has run for a while), and logs each exit and restart;
5. on SIGTERM/SIGINT closes its copy of the socket, stops the API children (they finish
   what is in flight), then the worker (it stops at a committed position), then the
   embedded PostgreSQL, and returns 0.

Children run in their own process group (Ctrl-C reaches only the supervisor, which stops
them in order) and get SIGTERM from the kernel should the supervisor itself be killed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("qualtrace.supervisor")

#: How long a child may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 20.0
#: First restart delay, its ceiling, and how long a child must live to reset the backoff.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
BACKOFF_RESET_AFTER_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM when the supervisor dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def describe_exit(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"


@dataclass
class Child:
    """One slot the supervisor keeps filled: a name, the command, the fds it inherits."""

    name: str
    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = BACKOFF_FIRST_SECONDS
    restart_at: float | None = None
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class Supervisor:
    api: list[Child]
    workers: list[Child]
    env: dict[str, str]
    #: Closed first on shutdown, so that new connections are refused once the API children
    #: have closed theirs.
    listener: socket.socket | None = None
    clock: Callable[[], float] = time.monotonic
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def children(self) -> list[Child]:
        return [*self.api, *self.workers]

    def spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.argv,
            env=self.env,
            pass_fds=child.pass_fds,
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        child.started = self.clock()
        child.restart_at = None
        log.info("%s started: pid %d", child.name, child.pid)

    def check(self) -> None:
        """Reap children that died and restart each when its backoff has passed."""
        now = self.clock()
        for child in self.children:
            if child.proc is not None and child.restart_at is None:
                code = child.proc.poll()
                if code is None:
                    continue
                if now - child.started >= BACKOFF_RESET_AFTER_SECONDS:
                    child.backoff = BACKOFF_FIRST_SECONDS
                child.restart_at = now + child.backoff
                log.warning(
                    "%s (pid %d) %s; restarting in %.1f s",
                    child.name,
                    child.pid,
                    describe_exit(code),
                    child.backoff,
                )
                child.backoff = min(child.backoff * 2, BACKOFF_MAX_SECONDS)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self.spawn(child)

    def run(self, poll_seconds: float = 0.2) -> int:
        previous = {
            sig: signal.signal(sig, lambda *_: self.stopping.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for child in self.children:
                self.spawn(child)
            while not self.stopping.wait(poll_seconds):
                self.check()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def stop(self) -> None:
        """The API first (it may still be answering commands), then the worker."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        _stop_all(self.api)
        _stop_all(self.workers)


def _stop_all(children: list[Child]) -> None:
    running = [c for c in children if c.proc is not None and c.proc.poll() is None]
    for child in running:
        assert child.proc is not None
        child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in running:
        assert child.proc is not None
        try:
            code = child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) did not stop in time; killing it", child.name, child.pid)
            child.proc.kill()
            code = child.proc.wait()
        log.info("%s (pid %d) stopped: %s", child.name, child.pid, describe_exit(code))
    for child in children:  # reap any that died on their own meanwhile
        if child.proc is not None:
            child.proc.poll()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every API child accepts on (inherited by file descriptor)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(args: Any, settings: Any, say: Callable[[str], None]) -> int:
    """Run `qualtrace serve` as the supervisor of its API and worker processes."""
    from qualtrace.bootstrap import NoDatabase, bootstrap, database_url

    workers = max(1, int(args.workers))
    try:
        url, embedded = database_url(settings)
    except NoDatabase as e:
        say(f"error: {e}")
        return 2
    try:
        if settings.setup_schema:
            bootstrap(settings.model_copy(update={"database_url": url}), setup=True).close()
        try:
            listener = bind(args.host, args.port)
        except OSError as e:
            say(f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}")
            return 2
        # faults: pools that may need more connections than the server allows (docs/faults.md)
        from qualtrace.connections import fit

        # The worker counts even when it runs elsewhere (QUALTRACE_RUN_PROJECTIONS=false):
        # without it there is no read side, and it must find a free connection.
        pool_size, note = fit(
            url,
            workers,
            settings.pool_size,
            True,
            explicit="pool_size" in settings.model_fields_set,
        )
        if note:
            say(note)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "QUALTRACE_SETUP_SCHEMA": "false",
            "QUALTRACE_POOL_SIZE": str(pool_size),
        }
        program = [sys.executable, "-m", "qualtrace.cli", "serve", "--supervised"]
        fd = listener.fileno()
        api = [
            Child(
                f"api-{i + 1}",
                [*program, "--no-projections", "--fd", str(fd), "--host", args.host],
                pass_fds=(fd,),
            )
            for i in range(workers)
        ]
        run_worker = settings.run_projections
        worker = [Child("worker", [*program, "--projections-only"])] if run_worker else []
        say(
            f"API on http://{args.host}:{args.port} (interactive docs at /docs) in {workers}"
            f" process{'es' if workers > 1 else ''}; projections, processes and the deadline"
            f" watcher {'in a worker process' if run_worker else 'not run here'}"
        )
        return Supervisor(api=api, workers=worker, env=env, listener=listener).run()
    finally:
        if embedded is not None:
            embedded.stop()
