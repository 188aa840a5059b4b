"""Bulk import speed of a third-party agency's survey file (CSV), all or nothing.

    .venv/bin/python bench/survey_import.py --admin-url postgresql://postgres@127.0.0.1:5432/test \
        --rows 100000

It creates a scratch database (dropped afterwards), opens a campaign (two projects, three
segments, three methods, six questions) and builds a CSV of `--rows` respondents, a
share of them (`--low-pct`) with a low answer (each raises an improvement action, a
nonconformance). Then it measures, through the application's command (what
`POST /surveys/{id}/responses/import` calls):

- `import`: parse and validate the whole file, record every response, every
  nonconformance and the import event in one transaction;
- `reimport`: the same file again (recognised by its SHA-256; records nothing);
- `rejected`: a file of the same size with one bad cell in its last row (every row is
  validated, the file is refused, nothing is recorded);
- `results`: computing the campaign's results from the recorded responses (what
  publishing does).

`seconds` is wall-clock time; `client_cpu_seconds` the CPU time of this (Python) process
and `server_cpu_seconds` that of the database backends serving the scratch database
(from /proc, when PostgreSQL runs on this machine): steadier figures on a busy machine,
whose sum is the import's time on an otherwise idle one.

`run_survey_import()` is the importable entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from application.base import Call  # noqa: E402
from application.security import Principal  # noqa: E402
from bench.scratch import bench_container  # noqa: E402
from domain.surveys.csv import CsvRejected  # noqa: E402

QM1 = Call(Principal("bench.qm1", "Bench QM One", "quality_manager"), "bench-survey-1")
QM2 = Call(Principal("bench.qm2", "Bench QM Two", "quality_manager"), "bench-survey-2")
ADMIN = Call(Principal("bench.admin", "Bench Admin", "admin"), "bench-survey-0")
CODES = ("Q1", "Q2", "Q3", "Q4", "Q5", "OV")
PLAN: dict[str, Any] = {
    "title": "Bench third-party survey",
    "objectives": "measure the import",
    "party": "third_party",
    "agency": "Bench Research",
    "methods": ["web", "phone", "face_to_face"],
    "segments": ["owner", "tenant", "commercial"],
    "projects": ["P1", "P2"],
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "target_sample": 100_000,
    "target_csi": 87,
    "questions": [
        {
            "code": c,
            "text": f"question {c}",
            "dimension": ("service", "value", "complaint_handling")[i % 3],
            "weight": 1 + i % 3,
            "overall": c == "OV",
        }
        for i, c in enumerate(CODES)
    ],
}


def _backend_cpu(url: str) -> float:
    """CPU seconds used so far by the database's backend processes serving `url`'s
    database (read from /proc when the server runs on this machine, else 0)."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            ]
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return total
    except (OSError, ValueError, psycopg.Error):
        return 0.0


def make_csv(rows: int, low_pct: float, seed: int = 7, bad_last_row: bool = False) -> bytes:
    """A CSV of `rows` respondents; `low_pct` % of them have one answer of 1 or 2."""
    rnd = random.Random(seed)
    lines = ["respondent_ref,project,segment,method," + ",".join(CODES) + ",comment"]
    for i in range(rows):
        answers = [str(rnd.choice((3, 4, 4, 5, 5))) if rnd.random() > 0.05 else "" for _ in CODES]
        answers[-1] = answers[-1] or "4"
        if rnd.random() * 100 < low_pct:
            answers[rnd.randrange(len(CODES))] = str(rnd.choice((1, 2)))
        if bad_last_row and i == rows - 1:
            answers[0] = "6"
        lines.append(
            f"AG-{i:06d},{('P1', 'P2')[i % 2]},{('owner', 'tenant', 'commercial')[i % 3]},"
            f"{('web', 'phone', 'face_to_face')[i % 3]},{','.join(answers)},{'ok' if i % 10 == 0 else ''}"
        )
    return ("\n".join(lines) + "\n").encode()


def run_survey_import(
    admin_url: str | None = None,
    *,
    rows: int = 100_000,
    low_pct: float = 2.0,
    url: str | None = None,
) -> dict[str, Any]:
    """Measure the import; returns the figures as a dict. Give `admin_url` (a server where
    a scratch database can be created and dropped) or `url` (an empty database)."""
    with bench_container(admin_url, url) as c:
        app = c.app
        app.org.register_region(ADMIN, code="SH", name="上海")
        app.org.register_project(ADMIN, code="P1", name="绿地花园", region="SH", households=800)
        app.org.register_project(ADMIN, code="P2", name="滨江苑", region="SH", households=600)
        sv = app.surveys.draft(QM1, **PLAN).number
        app.surveys.submit(QM1, sv)
        app.surveys.decide(QM2, sv, True, None)
        app.surveys.open(QM1, sv)
        data = make_csv(rows, low_pct)
        bad = make_csv(rows, low_pct, seed=8, bad_last_row=True)
        head0 = app.recorder.max_notification_id() or 0

        t0 = time.perf_counter()
        try:
            app.survey_responses.import_csv(QM1, sv, bad)
            raise AssertionError("the bad file was accepted")
        except CsvRejected as e:
            rejected_errors = e.total
        rejected_seconds = time.perf_counter() - t0
        assert (app.recorder.max_notification_id() or 0) == head0, (
            "a rejected file recorded something"
        )

        b0 = _backend_cpu(c.url)
        t0, c0 = time.perf_counter(), time.process_time()
        result = app.survey_responses.import_csv(QM1, sv, data)
        import_seconds, import_cpu = time.perf_counter() - t0, time.process_time() - c0
        server_cpu = _backend_cpu(c.url) - b0
        summary = result.extra["import"]
        head1 = app.recorder.max_notification_id() or 0

        t0 = time.perf_counter()
        again = app.survey_responses.import_csv(QM1, sv, data)
        reimport_seconds = time.perf_counter() - t0
        assert (
            again.extra["import"]["recorded"] == 0
            and (app.recorder.max_notification_id() or 0) == head1
        )

        t0 = time.perf_counter()
        results = app.surveys.reads.compute_results(app.surveys.get(QM1, sv))
        results_seconds = time.perf_counter() - t0
        return {
            "rows": rows,
            "bytes": len(data),
            "recorded": summary["recorded"],
            "nonconformances": summary["nonconformances"],
            "events_recorded": head1 - head0,
            "import": {
                "seconds": round(import_seconds, 2),
                "client_cpu_seconds": round(import_cpu, 2),
                "server_cpu_seconds": round(server_cpu, 2),
                "rows_per_second": round(rows / import_seconds) if import_seconds else None,
            },
            "reimport": {
                "seconds": round(reimport_seconds, 3),
                "recorded": again.extra["import"]["recorded"],
            },
            "rejected": {"seconds": round(rejected_seconds, 2), "errors": rejected_errors},
            "results": {
                "seconds": round(results_seconds, 2),
                "n": results["n"],
                "csi": results["csi"],
                "cli": results["cli"],
            },
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--admin-url",
        help="server URL where a scratch database is created (default: TEST_DATABASE_URL)",
    )
    ap.add_argument("--url", help="use this existing empty database instead of a scratch one")
    ap.add_argument("--rows", type=int, default=100_000, help="respondent rows in the file")
    ap.add_argument(
        "--low-pct",
        type=float,
        default=2.0,
        help="%% of rows with an answer <= 2 (each raises an NC)",
    )
    args = ap.parse_args(argv)
    print(
        json.dumps(
            run_survey_import(args.admin_url, rows=args.rows, low_pct=args.low_pct, url=args.url),
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
