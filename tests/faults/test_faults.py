"""The fault module's short version (bench/faults.py, docs/faults.md), as `.ci/run` runs it:
`qualtrace serve` (2 API processes) and a worker on a private PostgreSQL cluster with
max_connections=100, while 16 clients send commands with an Idempotency-Key:

- API processes killed (-9) every 3 s, PostgreSQL restarted (`pg_ctl restart -m fast`),
  the worker killed (-9) with a batch transaction open, then 300 concurrent clients;
- every acknowledged command is stored exactly once (lost 0, duplicated 0), retried ones
  at most once, no answer is 500, every 503 carries Retry-After, the same processes
  recover from the restart (none restarted), the projections equal a rebuild, the
  connections stay under max_connections and go when the service stops.

It starts its own PostgreSQL and service, whatever TEST_DATABASE_URL says, so it runs in
its own step of `.ci/run` (QUALTRACE_RUN_FAULTS=1) rather than in both test runs.

Bounded: the module takes about 70 s on a quiet 2-core machine; every wait in it has a
generous time-out (2 min), and the only timing assert is "recovered within 30 s".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.fault_parts import postgres_bindir
from bench.faults import SHORT, Run

#: Generous: a restart recovers in about a second on a quiet machine.
RECOVERED_WITHIN_SECONDS = 30.0


@pytest.mark.timeout(600)
def test_faults_lose_nothing_duplicate_nothing_and_the_service_recovers_on_its_own(
    tmp_path: Path,
) -> None:
    if os.environ.get("QUALTRACE_RUN_FAULTS") != "1":
        pytest.skip(
            "the fault module runs once, in its own step of .ci/run (QUALTRACE_RUN_FAULTS=1)"
        )
    assert postgres_bindir() is not None, "no PostgreSQL server binaries (initdb, pg_ctl)"
    lines: list[str] = []
    try:
        report = Run(SHORT, tmp_path, say=lines.append).run()
    except Exception as e:
        # What the run said and the service processes' last words (CI keeps nothing else).
        tails = [
            f"--- {log.name} (last 40 lines)\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            for log in [*sorted(tmp_path.rglob("*.log")), tmp_path / "pg" / "log"]
            if log.is_file()
        ]
        raise AssertionError("\n".join([repr(e), *lines, *tails])) from e
    assert report.problems() == [], "\n".join(lines)

    # Something happened and was judged: faults injected, commands acknowledged across them.
    assert report.api_kills >= 2
    assert report.worker_kills == SHORT.worker_kills
    assert report.acknowledged > 100 and report.retried > 0
    assert report.lost == 0 and report.duplicated == 0 and report.wrong_answer == 0
    assert report.projections_compared >= 10 and report.projections_differing == []
    # The restart: recovered without a restart of any process, and no 500 at any time.
    assert len(report.restarts) == SHORT.restarts
    for figures in report.restarts:
        assert figures["command_ok_after_s"] < RECOVERED_WITHIN_SECONDS, figures
        assert figures["projections_caught_up_after_s"] < RECOVERED_WITHIN_SECONDS, figures
    assert report.processes_restarted_by_pg_restart == 0
    assert "500" not in report.statuses and report.missing_retry_after == 0
    # The crowd: nothing crashed, connections bounded, none left once the service stopped.
    assert report.crowd["acknowledged"] > 0 and not report.crowd["crashed"]
    assert report.crowd["connections_after"] <= report.crowd["connection_bound"]
    assert report.connections_after_stop == 0 and report.supervisor_exit == 0
    shutil.rmtree(tmp_path / "pg", ignore_errors=True)
