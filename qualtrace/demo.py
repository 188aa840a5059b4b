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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from application.base import Call
from application.security import Principal
from domain.errors import DomainError
from qualtrace.demo_data import (
    ADMIN,
    CITIES,
    DEPTS,
    DESK,
    ESTATES,
    FINDINGS,
    GIVEN,
    INSPECTOR,
    KIND_WEIGHTS,
    QM1,
    QM2,
    REGIONS,
    SECTIONS,
    STAFF,
    SUP,
    SURNAMES,
    SURVEY_QUESTIONS,
    TICKET_TEXTS,
    YEAR_START,
)
from qualtrace.settings import Settings

#: `progress(phase, done, total)`: told as the demo goes (the CLI draws bars from it).
#: Phases: "organisation" (regions, projects, checklist), "tickets" (the year of tickets,
#: with the monthly inspections between them), "survey responses".
Progress = Callable[[str, int, int], None]


class DemoClock:
    """The simulated clock the demo moves command by command."""

    def __init__(self) -> None:
        self.now = YEAR_START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stats:
    commands: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, other: Stats) -> None:
        self.commands += other.commands
        self.rejected += other.rejected
        self.errors.extend(other.errors[: max(0, 5 - len(self.errors))])
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v


class Runner:
    """Issues commands as named people at simulated times."""

    def __init__(self, app: Any, clock: DemoClock, rng: random.Random) -> None:
        self.app, self.clock, self.rng, self.stats = app, clock, rng, Stats()

    def do(self, who: Principal, at: datetime, verb: str, *args: Any, **kwargs: Any) -> Any:
        self.clock.now = at
        self.stats.commands += 1
        try:
            context, _, name = verb.partition(".")
            return getattr(getattr(self.app, context), name)(
                Call(who, f"demo-{uuid.uuid4().hex[:12]}"), *args, **kwargs
            )
        except DomainError as e:
            # Should not happen (the scenario follows the rules); counted and reported.
            self.stats.rejected += 1
            if len(self.stats.errors) < 5:
                self.stats.errors.append(f"{verb}: {e}")
            return None

    def count(self, what: str, n: int = 1) -> None:
        self.stats.counts[what] = self.stats.counts.get(what, 0) + n

    def person(self) -> str:
        return (
            self.rng.choice(SURNAMES)
            + self.rng.choice(GIVEN)
            + (self.rng.choice(GIVEN) if self.rng.random() < 0.6 else "")
        )

    # -- tickets ---------------------------------------------------------------------
    def ticket(self, project: str, at: datetime) -> None:
        rng = self.rng
        kind = rng.choices([k for k, _ in KIND_WEIGHTS], [w for _, w in KIND_WEIGHTS])[0]
        category, text = rng.choice(TICKET_TEXTS[kind])
        phone = "13" + "".join(rng.choice("0123456789") for _ in range(9))
        r = self.do(
            DESK,
            at,
            "tickets.receive",
            project=project,
            kind=kind,
            channel=rng.choice(["phone", "phone", "app", "walk_in", "web", "staff_relay"]),
            priority=rng.choices(["urgent", "high", "normal", "low"], [5, 20, 60, 15])[0],
            category=category,
            description=text,
            reporter={
                "name": self.person(),
                "unit": f"{rng.randint(1, 20)}-{rng.randint(1, 30)}0{rng.randint(1, 4)}",
                "phone": phone,
            },
        )
        if r is None:
            return
        self.count("tickets")
        ref = r.number
        t = at + timedelta(minutes=rng.randint(3, 40))
        if rng.random() < 0.03:
            self.do(DESK, t, "tickets.cancel", ref, "业主自行处理，撤销报事")
            return
        dept = DEPTS.get(category, "customer_service")
        self.do(SUP, t, "tickets.dispatch", ref, dept, self.person())
        if rng.random() < 0.06:
            t += timedelta(minutes=rng.randint(10, 120))
            self.do(
                SUP,
                t,
                "tickets.transfer",
                ref,
                "engineering" if dept != "engineering" else "customer_service",
                None,
                "非本部门职责，转派处理",
            )
        for attempt in range(3):
            t += timedelta(minutes=rng.randint(5, 90))
            self.do(STAFF, t, "tickets.accept", ref)
            if rng.random() < 0.2:
                t += timedelta(minutes=rng.randint(10, 60))
                self.do(STAFF, t, "tickets.note", ref, "已到现场查看，需采购配件")
            t += timedelta(minutes=rng.randint(30, 60 * 30))
            self.do(STAFF, t, "tickets.resolve", ref, "已处理完毕，现场恢复正常")
            t += timedelta(hours=rng.randint(2, 48))
            if rng.random() < 0.05:  # three unreached callbacks, then a supervisor closes
                for _ in range(3):
                    self.do(DESK, t, "tickets.callback", ref, False, None, None, None)
                    t += timedelta(hours=rng.randint(4, 24))
                self.do(SUP, t, "tickets.close", ref, "三次回访未接通，主管确认关闭")
                return
            satisfied = attempt == 2 or rng.random() < 0.88
            self.do(
                DESK,
                t,
                "tickets.callback",
                ref,
                True,
                satisfied,
                rng.choice([4, 5, 5]) if satisfied else rng.choice([1, 2]),
                None if satisfied else "问题未彻底解决",
            )
            if satisfied:
                t += timedelta(minutes=rng.randint(1, 30))
                self.do(DESK, t, "tickets.close", ref, None)
                if kind == "complaint" and rng.random() < 0.04:
                    t += timedelta(hours=2)
                    esc = self.do(
                        SUP, t, "tickets.escalate", ref, "同类投诉反复发生，升级至品质部", "major"
                    )
                    if esc is not None:
                        self.nonconformance(esc.extra["nonconformance"]["number"], t)
                return
            self.count("reopened")
            t += timedelta(minutes=rng.randint(10, 60))
            self.do(SUP, t, "tickets.dispatch", ref, dept, self.person())

    # -- nonconformances ----------------------------------------------------------------
    def nonconformance(self, ref: str, at: datetime) -> None:
        rng = self.rng
        self.count("nonconformances")
        t = at + timedelta(hours=rng.randint(1, 24))
        if rng.random() < 0.03:
            self.do(QM1, t, "nonconformances.cancel", ref, "经复核不构成不合格，撤销")
            return
        self.do(
            QM1,
            t,
            "nonconformances.notice",
            ref,
            rng.choice(["engineering", "customer_service", "cleaning", "security"]),
            self.person(),
        )
        for round_ in range(2):  # a second round when the first verification finds it not effective
            t += timedelta(days=rng.randint(1, 3))
            self.do(SUP, t, "nonconformances.analyse", ref, "人员培训不到位，巡检制度执行不严")
            t += timedelta(hours=rng.randint(2, 30))
            self.do(
                SUP,
                t,
                "nonconformances.plan",
                ref,
                ["立即整改现场问题", "补齐相关记录"],
                ["每月开展专项培训", "纳入月度考核"],
            )
            t += timedelta(hours=rng.randint(2, 30))
            self.do(QM1, t, "nonconformances.decide_plan", ref, True, None)
            t += timedelta(days=rng.randint(1, 6))
            self.do(
                SUP,
                t,
                "nonconformances.rectify",
                ref,
                "已按计划完成整改并拍照留存",
                ["整改照片.jpg"],
            )
            t += timedelta(days=rng.randint(1, 3))
            effective = round_ == 1 or rng.random() < 0.9
            self.do(
                INSPECTOR,
                t,
                "nonconformances.verify",
                ref,
                effective,
                "复检合格" if effective else "复检仍不合格",
            )
            if effective:
                return

    # -- inspections ---------------------------------------------------------------------
    def inspection(self, project: str, template: str, at: datetime) -> None:
        rng = self.rng
        r = self.do(
            INSPECTOR,
            at - timedelta(days=5),
            "inspections.schedule",
            project=project,
            kind="regional_monthly",
            template_id=template,
            planned_for=at.date().isoformat(),
            inspectors=[INSPECTOR.name],
        )
        if r is None:
            return
        self.count("inspections")
        ref = r.number
        t = at
        self.do(INSPECTOR, t, "inspections.start", ref)
        for section in SECTIONS:
            for item in section["items"]:
                t += timedelta(minutes=rng.randint(3, 15))
                if rng.random() < 0.07:
                    self.do(
                        INSPECTOR,
                        t,
                        "inspections.score_item",
                        ref,
                        item["code"],
                        rng.randint(0, 5),
                        "fail",
                        FINDINGS[section["code"]],
                        ["现场照片.jpg"],
                    )
                else:
                    self.do(
                        INSPECTOR,
                        t,
                        "inspections.score_item",
                        ref,
                        item["code"],
                        rng.choice([8, 9, 10, 10]),
                        "pass",
                    )
        t += timedelta(minutes=30)
        result = self.do(INSPECTOR, t, "inspections.submit", ref)
        if result is None:
            return
        t += timedelta(days=3)
        self.do(QM1, t, "inspections.finalize", ref)
        for nc in result.extra.get("nonconformances", []):
            self.nonconformance(nc["number"], t)


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
