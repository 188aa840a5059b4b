"""The dispatch scoring table (domain/dispatch.py) and staff skills (domain/staff.py),
without a database: each figure below is worked out by hand from `DISPATCH_POLICY`."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.base import Actor, Ctx
from domain.categories import DEFAULT
from domain.dispatch import DISPATCH_POLICY, Candidate, suggest, validate_dispatch_policy
from domain.errors import InvalidValue, RuleViolation
from domain.staff import StaffMember, check_skills, staff_id

CTX = Ctx(Actor("admin", "Admin", "admin"), datetime(2026, 3, 2, tzinfo=timezone.utc), "c-1")


def person(
    staff: str, skills: tuple[str, ...] = (), open_tickets: int = 0, hours: tuple[float, ...] = ()
) -> Candidate:
    return Candidate(staff, staff.title(), "engineering", skills, open_tickets, hours)


def factors(item: dict[str, object]) -> dict[str, tuple[object, float]]:
    return {r["factor"]: (r["value"], r["points"]) for r in item["reasons"]}  # type: ignore[attr-defined,index]


@pytest.mark.parametrize(
    "category, skills, level, points",
    [
        ("水电", ("engineering.plumbing_electrical",), "l2", 50),  # the exact level-2 code
        ("漏水", ("engineering",), "l1", 25),  # the level-1 code (漏水 is an alias of 水电)
        ("工程维修/水电", ("engineering.lifts",), "l1", 25),  # a sibling under the same level 1
        ("电梯", ("security.patrol", "cleaning"), "none", 0),  # other categories only
        ("安保", ("security.patrol",), "l1", 25),  # a level-1 ticket reaches l1 at most
        ("安保", ("security",), "l1", 25),
        ("something new", ("engineering",), "none", 0),  # unknown text is "other"
        ("something new", ("other",), "l1", 25),  # … which the "other" skill covers
    ],
)
def test_skill_level_is_exact_l2_then_l1_then_none(
    category: str, skills: tuple[str, ...], level: str, points: int
) -> None:
    [item] = suggest(category, [person("a", skills)], DEFAULT)
    assert factors(item)["skill"] == (level, points)


def test_workload_loses_ten_points_per_open_ticket_down_to_zero() -> None:
    items = suggest("水电", [person(f"p{n}", open_tickets=n) for n in range(5)], DEFAULT)
    assert {i["staff_id"]: factors(i)["workload"] for i in items} == {
        "p0": (0, 30),
        "p1": (1, 20),
        "p2": (2, 10),
        "p3": (3, 0),
        "p4": (4, 0),
    }


def test_resolution_uses_the_median_hours_and_no_history_is_neutral() -> None:
    items = suggest(
        "水电",
        [
            person("odd", hours=(1.0, 30.0, 3.0)),  # median 3 → 20 - 1.5 = 18.5
            person("even", hours=(2.0, 4.0, 6.0, 100.0)),  # median (4 + 6) / 2 = 5 → 17.5
            person("slow", hours=(60.0,)),  # 20 - 30 < 0 → 0
            person("new"),  # no history → 10
        ],
        DEFAULT,
    )
    got = {i["staff_id"]: factors(i)["resolution"] for i in items}
    assert got == {"odd": (3, 18.5), "even": (5, 17.5), "slow": (60, 0), "new": (None, 10)}


def test_points_round_half_up_and_the_score_sums_them() -> None:
    # median 1.5 h → 20 - 0.75 = 19.25 → 19.3; 0 + 30 + 19.3 = 49.3
    [item] = suggest("水电", [person("a", hours=(1.0, 2.0))], DEFAULT)
    assert factors(item)["resolution"] == (1.5, 19.3)
    assert item["score"] == 49.3


def test_ties_go_to_fewer_open_tickets_then_to_the_user_id() -> None:
    items = suggest(
        "水电",
        [
            # 25 (l1) + 10 (2 open) + 5 (median 30 h) = 40
            person("busy", ("engineering",), open_tickets=2, hours=(30.0,)),
            # 0 + 30 + 10 = 40, no open ticket: before "busy"
            person("zz.idle"),
            person("aa.idle"),  # the same as zz.idle: by user id
        ],
        DEFAULT,
    )
    assert [(i["rank"], i["staff_id"], i["score"]) for i in items] == [
        (1, "aa.idle", 40.0),
        (2, "zz.idle", 40.0),
        (3, "busy", 40.0),
    ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([(), ("engineering",), ("engineering.lifts",), ("cleaning",)]),
            st.integers(0, 6),
            st.lists(st.floats(0, 200, allow_nan=False), max_size=5),
        ),
        max_size=8,
    )
)
def test_any_staff_is_ranked_1_to_n_by_non_increasing_score_and_the_order_is_stable(
    people: list[tuple[tuple[str, ...], int, list[float]]],
) -> None:
    candidates = [person(f"u{i}", s, n, tuple(h)) for i, (s, n, h) in enumerate(people)]
    items = suggest("电梯", candidates, DEFAULT)
    assert [i["rank"] for i in items] == list(range(1, len(candidates) + 1))
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    for i in items:
        assert i["score"] == pytest.approx(sum(r["points"] for r in i["reasons"]))
        assert 0 <= i["score"] <= 100
    assert suggest("电梯", list(reversed(candidates)), DEFAULT) == items


def test_the_best_possible_score_is_100() -> None:
    top = DISPATCH_POLICY
    assert (
        top["skill"]["l2"] + top["workload"]["max_points"] + top["resolution"]["max_points"] == 100
    )


def test_skills_are_taxonomy_codes_of_either_level_and_an_unknown_one_is_named() -> None:
    assert check_skills(["engineering.lifts", "cleaning", "cleaning"], DEFAULT) == [
        "cleaning",
        "engineering.lifts",
    ]
    with pytest.raises(InvalidValue) as e:
        check_skills(["cleaning", "lifts"], DEFAULT)  # a name, not a code
    assert e.value.field == "skills[1]"
    assert "lifts" in e.value.message
    with pytest.raises(InvalidValue):
        check_skills("cleaning", DEFAULT)


def test_a_staff_member_changes_skills_once_per_change_and_keeps_the_previous_list() -> None:
    s = StaffMember.register(CTX, "wang.wei", "王伟", "P1", "engineering", ["engineering"])
    assert s.id == staff_id("WANG.WEI")
    s.set_skills(CTX, ["engineering.lifts"])
    event = s.collect_events()[-1]
    assert isinstance(event, StaffMember.SkillsChanged)
    assert (event.previous, event.skills) == (["engineering"], ["engineering.lifts"])
    with pytest.raises(RuleViolation):
        s.set_skills(CTX, ["engineering.lifts"])
    with pytest.raises(InvalidValue):
        StaffMember.register(CTX, "wang.wei", "王伟", "P1", "kitchen")


def test_a_configured_policy_changes_only_the_weights_it_names_and_a_bad_one_is_named() -> None:
    policy = validate_dispatch_policy({"workload": {"per_open_ticket": 5}})
    assert policy["workload"] == {"max_points": 30, "per_open_ticket": 5}
    assert policy["skill"] == DISPATCH_POLICY["skill"]
    # 30 - 5 x 2 = 20 with the configured weight.
    [item] = suggest("水电", [person("a", open_tickets=2)], DEFAULT, policy)
    assert factors(item)["workload"] == (2, 20)
    assert validate_dispatch_policy(None) == DISPATCH_POLICY
    for bad, named in [
        ({"skill": {"l2": 10, "l1": 20}}, "l2 >= l1"),
        ({"workload": {"per_ticket": 5}}, "workload.per_ticket"),
        ({"resolution": {"window_days": 0}}, "window_days"),
        ({"resolution": {"per_hour": -1}}, "resolution.per_hour"),
        ({"speed": {}}, "speed"),
    ]:
        with pytest.raises(ValueError, match=named):
            validate_dispatch_policy(bad)
