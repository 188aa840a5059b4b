"""An upgrade that changes a read model's tables rebuilds it when the worker starts
(`store.generations.upgrade`, called by `Container.start_projections`): a generation built
with another layout, or one recorded before layouts were whose columns differ from the
code's, is rebuilt once from the events, even with two workers starting at once; an
unchanged one is left alone; processes are never rebuilt."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from store import generations
from tests.integration.test_kpi_rebuild import org, ticket


def _live(url: str, name: str) -> tuple[int, str | None]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT generation, layout FROM qt_projection_tracking WHERE name=%s AND live", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def _tickets(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT number, status, category FROM qt_read.tickets ORDER BY number"
        ).fetchall()


def _models(c: Any) -> list[Any]:
    return [p for g in c.groups if g.name == "read-models" for p in g.projections]


def test_fresh_generations_record_their_layout_and_nothing_is_rebuilt(container: Any) -> None:
    models = _models(container)
    for p in models:
        assert _live(container.url, p.name) == (1, generations.layout(p))
    assert container.upgrade_read_models() == []
    assert all(_live(container.url, p.name)[0] == 1 for p in models)


def test_a_changed_layout_is_rebuilt_once_from_the_events(container: Any) -> None:
    org(container.app)
    numbers = [ticket(container.app, "P1") for _ in range(3)]
    container.run_projections_once()
    before = _tickets(container.url)
    assert [r[0] for r in before] == numbers
    # The tickets read model as an older release left it: another layout recorded.
    with psycopg.connect(container.url, autocommit=True) as conn:
        conn.execute("UPDATE qt_projection_tracking SET layout = 'older' WHERE name = 'tickets'")

    # Two workers start at once: the read model is rebuilt by one of them, once.
    results: list[list[str]] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait()
        results.append(container.upgrade_read_models())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [[], ["tickets"]]
    tickets = next(p for p in _models(container) if p.name == "tickets")
    assert _live(container.url, "tickets") == (2, generations.layout(tickets))
    assert _tickets(container.url) == before
    assert container.upgrade_read_models() == []


def test_a_generation_from_before_layouts_is_judged_by_its_columns(container: Any) -> None:
    org(container.app)
    ticket(container.app, "P1")
    container.run_projections_once()
    with psycopg.connect(container.url, autocommit=True) as conn:
        conn.execute("UPDATE qt_projection_tracking SET layout = NULL")
        # An older release's tickets table lacked a column the code now writes.
        conn.execute("ALTER TABLE qt_tickets_g1.tickets DROP COLUMN category CASCADE")
    rebuilt = container.upgrade_read_models()
    # Only the table whose columns differ is rebuilt; the others get their layout recorded.
    assert rebuilt == ["tickets"]
    for p in _models(container):
        generation, layout = _live(container.url, p.name)
        assert layout == generations.layout(p)
        assert generation == (2 if p.name == "tickets" else 1)
    assert [r[2] for r in _tickets(container.url)] == ["水电"]


def test_processes_are_never_rebuilt(container: Any) -> None:
    followers = [p for g in container.groups if g.name != "read-models" for p in g.projections]
    assert followers, "the process followers run in groups of their own"
    with psycopg.connect(container.url, autocommit=True) as conn:
        conn.execute("UPDATE qt_projection_tracking SET layout = 'older'")
    rebuilt = set(container.upgrade_read_models())
    assert rebuilt == {p.name for p in _models(container)}
    assert not rebuilt & {p.name for p in followers}


def test_a_changed_taxonomy_or_time_zone_rebuilds_the_ticket_facts(container: Any) -> None:
    from domain.categories import taxonomy_from
    from projections import registry

    org(container.app)
    ticket(container.app, "P1")  # category 水电: engineering.plumbing_electrical by default
    container.run_projections_once()
    ours = taxonomy_from({"water": {"name": "水务", "children": {"pipes": {"name": "水电"}}}})
    facts = registry.by_name("kpi_tickets", container.settings.timezone, ours)
    assert generations.layout(facts) != generations.layout(
        registry.by_name("kpi_tickets", container.settings.timezone)
    )
    kw = {"publish_hooks": container.publish_hooks}
    assert generations.upgrade(container.url, container.source, [facts], **kw) == ["kpi_tickets"]
    with psycopg.connect(container.url) as conn:
        rows = conn.execute("SELECT category_code FROM qt_read.ticket_facts").fetchall()
    assert rows == [("water.pipes",)]
    # Another time zone buckets facts by another local day: rebuilt too.
    elsewhere = registry.by_name("kpi_tickets", "Europe/Berlin", ours)
    assert generations.upgrade(container.url, container.source, [elsewhere], **kw) == [
        "kpi_tickets"
    ]
    assert generations.upgrade(container.url, container.source, [elsewhere], **kw) == []
