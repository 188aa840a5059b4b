"""`qualtrace demo`: a plausible organisation's year, recorded through the application's
commands (every permission check, numbering and domain rule applies, as over HTTP).

Regions and dozens of projects; a year of tickets (repairs, complaints, inquiries …
with dispatch, transfers, callbacks, reopenings, escalations into nonconformances); a
regional inspection of every project every month from a published checklist, whose
failed items raise nonconformances that then run their corrective-action cycle; and a
quarterly satisfaction survey with responses from every project. Texts are Chinese, as
in the company's own documents. The clock is simulated: the year is 2025 (company time).

Size: `--tickets` (about 6.5 events each) dominates; `--workers N` runs projects in N
processes (each its own connection pool), still command by command.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from qualtrace.demo_data import (
    ADMIN,
    CITIES,
    DESK,
    ESTATES,
    QM1,
    QM2,
    REGIONS,
    SECTIONS,
    SURVEY_QUESTIONS,
    YEAR_START,
)
from qualtrace.demo_runner import DemoClock, Runner, Stats
from qualtrace.settings import Settings

#: `progress(phase, done, total)`: told as the demo goes (the CLI draws bars from it).
#: Phases: "organisation" (regions, projects, checklist), "tickets" (the year of tickets,
#: with the monthly inspections between them), "survey responses".
Progress = Callable[[str, int, int], None]


def _projects(n: int) -> list[tuple[str, str, str, int]]:
    """(code, name, region, households) for n projects spread over the regions."""
    out = []
    for i in range(n):
        region = REGIONS[i % len(REGIONS)][0]
        city = CITIES[region][(i // len(REGIONS)) % len(CITIES[region])]
        out.append(
            (
                f"{region}{i + 1:02d}",
                f"{city}{ESTATES[i % len(ESTATES)]}",
                region,
                300 + (i * 137) % 1500,
            )
        )
    return out


#: In a worker process: the tickets recorded by all workers, shared with the parent,
#: which reads it to show progress (set by `_init_worker`).
_tickets_done: Any = None


def _init_worker(counter: Any) -> None:
    global _tickets_done
    _tickets_done = counter


def _count_ticket() -> None:
    with _tickets_done.get_lock():
        _tickets_done.value += 1


def _worker(args: tuple[str | None, list[str], str, int, int, int]) -> Stats:
    url, projects, template, tickets, months, seed = args
    from qualtrace.bootstrap import bootstrap

    clock = DemoClock()
    c = bootstrap(
        Settings(database_url=url, pool_size=2, run_projections=False), clock=clock, setup=False
    )
    try:
        return run_projects(
            c.app,
            clock,
            projects,
            template,
            tickets,
            months,
            random.Random(seed),
            on_ticket=_count_ticket if _tickets_done is not None else None,
        )
    finally:
        c.close()


def run_projects(
    app: Any,
    clock: DemoClock,
    projects: list[str],
    template: str,
    tickets: int,
    months: int,
    rng: random.Random,
    on_ticket: Callable[[], None] | None = None,
) -> Stats:
    """Tickets spread over the months, and a monthly inspection of each project, in time order."""
    r = Runner(app, clock, rng)
    days = max(1, int(months * 365 / 12))
    per_day = [0] * days
    for i in range(tickets):
        per_day[i * days // tickets] += 1
    for day in range(days):
        start = YEAR_START + timedelta(days=day)
        for _ in range(per_day[day]):
            r.ticket(rng.choice(projects), start + timedelta(minutes=rng.randint(0, 600)))
            if on_ticket is not None:
                on_ticket()
        if start.day == 10:
            for p in projects:
                r.inspection(p, template, start + timedelta(hours=1))
    return r.stats


def survey(
    app: Any,
    clock: DemoClock,
    projects: list[str],
    quarter: int,
    responses: int,
    rng: random.Random,
    on_response: Callable[[], None] | None = None,
) -> Stats:
    r = Runner(app, clock, rng)
    first = YEAR_START + timedelta(days=91 * quarter + 60)
    plan = {
        "title": f"2025年第{quarter + 1}季度业主满意度调查",
        "objectives": "了解业主对物业服务的满意度，识别改进机会",
        "party": "first_party",
        "methods": ["phone", "web", "face_to_face"],
        "segments": ["owner", "tenant"],
        "projects": projects,
        "period": {
            "start": first.date().isoformat(),
            "end": (first + timedelta(days=20)).date().isoformat(),
        },
        "target_sample": responses,
        "target_csi": 80,
        "questions": SURVEY_QUESTIONS,
    }
    made = r.do(QM1, first - timedelta(days=10), "surveys.draft", **plan)
    if made is None:
        return r.stats
    ref = made.number
    r.do(QM1, first - timedelta(days=9), "surveys.submit", ref)
    r.do(QM2, first - timedelta(days=8), "surveys.decide", ref, True, None)
    r.do(QM1, first, "surveys.open", ref)
    r.count("surveys")
    for i in range(responses):
        base = rng.choices([5, 4, 3, 2], [40, 40, 15, 5])[0]
        answers: dict[str, int | None] = {
            q["code"]: max(1, min(5, base + rng.choice([-1, 0, 0, 1]))) for q in SURVEY_QUESTIONS
        }
        if rng.random() < 0.05:
            answers["Q3"] = None
        at = first + timedelta(days=rng.randint(0, 19), minutes=rng.randint(0, 600))
        low = min(v for v in answers.values() if v is not None) <= 2
        answer = r.do(
            DESK,
            at,
            "survey_responses.record",
            ref,
            respondent_ref=f"H{quarter + 1}-{i + 1:05d}",
            project=rng.choice(projects),
            segment=rng.choice(["owner", "owner", "tenant"]),
            method=rng.choice(["phone", "web", "face_to_face"]),
            answers=answers,
            comment="希望改进维修响应速度" if low else None,
        )
        r.count("survey_responses")
        if on_response is not None:
            on_response()
        if answer is not None and answer.extra.get("nonconformance"):
            r.count("nonconformances")  # a low answer raises an improvement action
    r.do(QM1, first + timedelta(days=21), "surveys.close", ref)
    r.do(QM1, first + timedelta(days=22), "surveys.publish", ref)
    return r.stats


def fill(
    url: str | None,
    *,
    projects: int = 24,
    tickets: int = 3000,
    months: int = 12,
    survey_responses: int = 200,
    workers: int = 1,
    seed: int = 2025,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Record the demo organisation into the store at `url` (None: the settings' database);
    `progress` is told how far each phase is (see `Progress`)."""
    report: Progress = progress or (lambda phase, done, total: None)
    from qualtrace.bootstrap import bootstrap

    started = time.monotonic()
    clock = DemoClock()
    c = bootstrap(
        Settings(database_url=url, pool_size=2, run_projections=False)
        if url
        else Settings(run_projections=False),
        clock=clock,
        setup=True,
    )
    url = c.url
    rng = random.Random(seed)
    total = Stats()
    try:
        setup = Runner(c.app, clock, rng)
        head_before = c.app.recorder.max_notification_id() or 0
        org_total = len(REGIONS) + projects + 2
        for code, name in REGIONS:
            setup.do(ADMIN, YEAR_START - timedelta(days=30), "org.register_region", code, name)
        report("organisation", len(REGIONS), org_total)
        plist = _projects(projects)
        for i, (code, name, region, households) in enumerate(plist, start=1):
            setup.do(
                ADMIN,
                YEAR_START - timedelta(days=29),
                "org.register_project",
                code,
                name,
                region,
                households,
            )
            report("organisation", len(REGIONS) + i, org_total)
        tpl = setup.do(
            QM1, YEAR_START - timedelta(days=20), "templates.draft", "物业服务月度检查表", SECTIONS
        )
        setup.do(QM1, YEAR_START - timedelta(days=19), "templates.publish", tpl.number)
        report("organisation", org_total, org_total)
        total.add(setup.stats)
        codes = [p[0] for p in plist]
        workers = max(1, min(workers, len(codes)))
        shares = [
            (
                url,
                codes[i::workers],
                tpl.number,
                tickets // workers + (1 if i < tickets % workers else 0),
                months,
                seed + i + 1,
            )
            for i in range(workers)
        ]
        report("tickets", 0, tickets)
        if workers == 1:
            done = 0

            def one_ticket() -> None:
                nonlocal done
                done += 1
                report("tickets", done, tickets)

            total.add(
                run_projects(
                    c.app,
                    clock,
                    shares[0][1],
                    tpl.number,
                    shares[0][3],
                    months,
                    random.Random(seed + 1),
                    on_ticket=one_ticket,
                )
            )
        else:
            ctx = multiprocessing.get_context("spawn")
            counter = ctx.Value("q", 0)
            with ctx.Pool(workers, initializer=_init_worker, initargs=(counter,)) as pool:
                running = pool.map_async(_worker, shares)
                while not running.ready():
                    running.wait(0.25)
                    report("tickets", counter.value, tickets)
                for s in running.get():
                    total.add(s)
        report("tickets", tickets, tickets)
        quarters = min(4, max(1, months // 3))
        responses_total = quarters * survey_responses
        responses_done = 0

        def one_response() -> None:
            nonlocal responses_done
            responses_done += 1
            report("survey responses", responses_done, responses_total)

        report("survey responses", 0, responses_total)
        for q in range(quarters):
            total.add(
                survey(
                    c.app,
                    clock,
                    codes,
                    q,
                    survey_responses,
                    random.Random(seed * 10 + q),
                    on_response=one_response,
                )
            )
        head = c.app.recorder.max_notification_id() or 0
    finally:
        c.close()
    seconds = time.monotonic() - started
    return {
        "events": head - head_before,
        "commands": total.commands,
        "rejected_commands": total.rejected,
        **({"rejections": total.errors} if total.errors else {}),
        "regions": len(REGIONS),
        "projects": projects,
        **total.counts,
        "seconds": round(seconds, 1),
        "commands_per_second": round(total.commands / seconds, 1) if seconds else None,
    }
