"""`qualtrace demo` records a plausible organisation through the commands: no command is
refused, every issue kind is there, the projections agree with what was recorded, and
the hash chains verify."""

from __future__ import annotations

from typing import Any

import psycopg

from qualtrace.demo import fill


def test_the_demo_organisation_is_recorded_by_commands_without_a_rejection(db_url: str) -> None:
    result = fill(db_url, projects=4, tickets=25, months=1, survey_responses=8, workers=1)
    assert result["rejected_commands"] == 0, result.get("rejections")
    assert result["regions"] == 4 and result["projects"] == 4
    assert result["tickets"] == 25
    assert result["inspections"] == 4  # each project, each month
    assert result["surveys"] == 1 and result["survey_responses"] == 8
    assert (
        result["events"] > result["commands"] * 0.9
    )  # about one event per command, some raise more

    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    c = bootstrap(Settings(database_url=db_url, pool_size=2, run_projections=False), setup=False)
    try:
        c.run_projections_once()
        assert c.app.audit.verify_integrity().as_dict()["first_broken_link"] is None
    finally:
        c.close()
    with psycopg.connect(db_url) as conn:

        def count(q: str) -> Any:
            row = conn.execute(q).fetchone()
            assert row is not None
            return row[0]

        assert count("SELECT count(*) FROM qt_read.projects") == 4
        assert count("SELECT count(*) FROM qt_read.tickets") == 25
        assert count("SELECT count(*) FROM qt_read.inspections") == 4
        assert count("SELECT count(*) FROM qt_read.nonconformances") == result.get(
            "nonconformances", 0
        )
        # Chinese texts, as in the company's documents.
        assert count("SELECT count(*) FROM qt_read.projects WHERE name ~ '[一-龥]'") == 4
        assert count("SELECT count(DISTINCT project) FROM qt_read.tickets") > 1
