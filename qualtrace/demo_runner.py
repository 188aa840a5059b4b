"""The demo's simulated clock and the runner that records one organisation's year through
the commands, as its people would (used by `qualtrace.demo.fill`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from application.base import Call
from application.security import Principal
from domain.errors import DomainError
from qualtrace.demo_data import (
    DEPTS,
    DESK,
    FINDINGS,
    GIVEN,
    INSPECTOR,
    KIND_WEIGHTS,
    QM1,
    SECTIONS,
    STAFF,
    SUP,
    SURNAMES,
    TICKET_TEXTS,
    YEAR_START,
)


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
