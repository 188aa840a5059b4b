"""Survey results: CSI, top-2-box, CLI, intervals — pure functions, one tested module.

Definitions (recorded with every published result in `parameters`):

- Scale 1-5 (5 very satisfied … 1 very dissatisfied); `null` = not answered.
- Only **valid** responses count (an invalidated response is excluded, never deleted).
- **Respondent score** s_r = Σ w_q·a_q / Σ w_q over the questions the respondent
  answered (nulls drop out of numerator and denominator; the overall question counts
  with its weight like any other). **Respondent CSI** c_r = (s_r − 1) / 4 × 100.
  A response with no answer at all cannot be scored (the domain refuses to record one).
- **CSI** of a group = mean of c_r over its respondents (each respondent weighs the
  same) = (mean s_r − 1) / 4 × 100. `n` = respondents scored.
- **95% confidence interval**: CSI ± z·sd/√n with z = 1.96 and sd the sample standard
  deviation (n − 1) of c_r; normal approximation, clamped to [0, 100]. With n < 2 the
  interval is `null` (undefined: no spread can be estimated from one respondent).
- **Top-2-box %** of a group = share of respondents who answered the overall question
  with 4 or 5, among those who answered it. Per question and per dimension it is the
  share of answers that are 4 or 5.
- **Loyalty**: the campaign's mapping (answer of the overall question → level) gives
  each respondent who answered the overall question a level; **CLI** = share of them
  whose level is loyal or favourable, × 100.
- **Per dimension**: a respondent's dimension score is the weighted mean over the
  answered questions of that dimension; the dimension's CSI is their mean, rescaled.
- **Response rate** = n / target sample × 100. **Gap** = CSI − target CSI.
- Every figure is rounded to 2 decimals on output; intervals are computed before rounding.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

Z95 = 1.96
TOP_BOX = (4, 5)
FAVOURABLE_LEVELS = ("loyal", "favourable")
ROUND = 2


def rescale(mean: float) -> float:
    """A 1-5 mean on the 0-100 CSI scale."""
    return (mean - 1.0) / 4.0 * 100.0


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, ROUND)


def weighted_mean(answers: dict[str, int | None], weights: dict[str, float]) -> float | None:
    """Weighted mean over the answered questions among `weights`; None when none answered."""
    num = 0.0
    den = 0.0
    for code, w in weights.items():
        a = answers.get(code)
        if a is not None:
            num += w * a
            den += w
    return num / den if den else None


def interval(scores: list[float], z: float = Z95) -> dict[str, float | None]:
    """Mean, sample sd and the normal-approximation interval of `scores` (0-100)."""
    n = len(scores)
    if n == 0:
        return {"mean": None, "sd": None, "low": None, "high": None, "margin": None}
    mean = math.fsum(scores) / n
    if n < 2:
        return {"mean": mean, "sd": None, "low": None, "high": None, "margin": None}
    sd = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / (n - 1))
    margin = z * sd / math.sqrt(n)
    return {
        "mean": mean,
        "sd": sd,
        "low": max(0.0, mean - margin),
        "high": min(100.0, mean + margin),
        "margin": margin,
    }


def _pct(part: int, whole: int) -> float | None:
    return part / whole * 100.0 if whole else None


class _Respondent:
    __slots__ = ("score", "overall", "level", "row")

    def __init__(
        self, row: dict[str, Any], score: float, overall: int | None, level: str | None
    ) -> None:
        self.row = row
        self.score = score
        self.overall = overall
        self.level = level


def group_stats(group: list[_Respondent], levels: Iterable[str], z: float = Z95) -> dict[str, Any]:
    """n, CSI with interval, top-2-box, CLI and the loyalty distribution of respondents."""
    ci = interval([rescale(r.score) for r in group], z)
    overall = [r for r in group if r.overall is not None]
    top = sum(1 for r in overall if r.overall in TOP_BOX)
    counts = {lv: 0 for lv in levels}
    for r in overall:
        if r.level is not None:
            counts[r.level] = counts.get(r.level, 0) + 1
    favourable = sum(counts.get(lv, 0) for lv in FAVOURABLE_LEVELS)
    return {
        "n": len(group),
        "csi": _r(ci["mean"]),
        "ci95": None if ci["low"] is None else {"low": _r(ci["low"]), "high": _r(ci["high"])},
        "sd": _r(ci["sd"]),
        "mean_score": _r(math.fsum(r.score for r in group) / len(group)) if group else None,
        "top2_box_pct": _r(_pct(top, len(overall))),
        "overall_answered": len(overall),
        "cli": _r(_pct(favourable, len(overall))),
        "loyalty": {lv: {"count": c, "pct": _r(_pct(c, len(overall)))} for lv, c in counts.items()},
    }


def compute_results(
    *,
    questions: list[dict[str, Any]],
    responses: Iterable[dict[str, Any]],
    loyalty_mapping: dict[str, str],
    target_sample: int,
    target_csi: float,
    party: str,
    previous: dict[str, Any] | None = None,
    z: float = Z95,
) -> dict[str, Any]:
    """The campaign's results from its responses.

    `responses`: dicts with `project`, `segment`, `method`, `answers` {code: 1-5|None}
    and `valid`. `previous`: the previous published campaign of the same scope
    (`id`, `number`, `csi`, `cli`) or None.
    """
    weights = {q["code"]: float(q["weight"]) for q in questions}
    overall_code = next(q["code"] for q in questions if q["overall"])
    levels = list(dict.fromkeys([*loyalty_mapping.values()]))
    dims: dict[str, dict[str, float]] = defaultdict(dict)
    for q in questions:
        dims[q["dimension"]][q["code"]] = float(q["weight"])

    scored: list[_Respondent] = []
    recorded = invalidated = unscored = 0
    q_answers: dict[str, list[int]] = {q["code"]: [] for q in questions}
    dim_scores: dict[str, list[float]] = {d: [] for d in dims}
    dim_answers: dict[str, list[int]] = {d: [] for d in dims}
    for row in responses:
        recorded += 1
        if not row.get("valid", True):
            invalidated += 1
            continue
        answers = row["answers"]
        score = weighted_mean(answers, weights)
        if score is None:
            unscored += 1
            continue
        overall = answers.get(overall_code)
        level = loyalty_mapping.get(str(overall)) if overall is not None else None
        scored.append(_Respondent(row, score, overall, level))
        for code in weights:
            a = answers.get(code)
            if a is not None:
                q_answers[code].append(a)
        for d, dw in dims.items():
            ds = weighted_mean(answers, dw)
            if ds is not None:
                dim_scores[d].append(rescale(ds))
                dim_answers[d].extend(a for c in dw if (a := answers.get(c)) is not None)

    total = group_stats(scored, levels, z)
    csi = total["csi"]

    def by(key: str) -> dict[str, Any]:
        groups: dict[str, list[_Respondent]] = defaultdict(list)
        for r in scored:
            groups[str(r.row[key])].append(r)
        return {k: group_stats(v, levels, z) for k, v in sorted(groups.items())}

    by_question = {}
    for q in questions:
        vals = q_answers[q["code"]]
        mean = math.fsum(vals) / len(vals) if vals else None
        by_question[q["code"]] = {
            "dimension": q["dimension"],
            "weight": float(q["weight"]),
            "overall": q["overall"],
            "n": len(vals),
            "mean": _r(mean),
            "csi": _r(rescale(mean)) if mean is not None else None,
            "top2_box_pct": _r(_pct(sum(1 for v in vals if v in TOP_BOX), len(vals))),
            "distribution": {str(k): sum(1 for v in vals if v == k) for k in range(1, 6)},
        }
    by_dimension = {}
    for d in dims:
        ci = interval(dim_scores[d], z)
        vals = dim_answers[d]
        by_dimension[d] = {
            "n": len(dim_scores[d]),
            "csi": _r(ci["mean"]),
            "ci95": None if ci["low"] is None else {"low": _r(ci["low"]), "high": _r(ci["high"])},
            "top2_box_pct": _r(_pct(sum(1 for v in vals if v in TOP_BOX), len(vals))),
            "answers": len(vals),
        }

    comparison = None
    if previous is not None:
        prev_csi, prev_cli = previous.get("csi"), previous.get("cli")
        comparison = {
            "id": previous.get("id"),
            "number": previous.get("number"),
            "csi": prev_csi,
            "cli": prev_cli,
            "csi_change": _r(csi - prev_csi) if csi is not None and prev_csi is not None else None,
            "cli_change": _r(total["cli"] - prev_cli)
            if total["cli"] is not None and prev_cli is not None
            else None,
        }

    return {
        **total,
        "recorded": recorded,
        "invalidated": invalidated,
        "unscored": unscored,
        "target_sample": target_sample,
        "response_rate_pct": _r(_pct(total["n"], target_sample)),
        "target_csi": float(target_csi),
        "gap_to_target": _r(csi - float(target_csi)) if csi is not None else None,
        "by_dimension": by_dimension,
        "by_question": by_question,
        "by_segment": by("segment"),
        "by_project": by("project"),
        "by_method": by("method"),
        "by_party": {party: total} if scored else {},
        "previous": comparison,
    }


def parameters(
    questions: list[dict[str, Any]],
    loyalty_mapping: dict[str, str],
    scale_labels: dict[str, str],
    z: float = Z95,
) -> dict[str, Any]:
    """The formulas' parameters, recorded beside the results they produced."""
    return {
        "scale": {"min": 1, "max": 5, "labels": dict(scale_labels)},
        "csi_formula": "per respondent: (sum(w*a)/sum(w) over answered questions - 1) / 4 * 100; CSI = mean over respondents",
        "weights": {q["code"]: float(q["weight"]) for q in questions},
        "dimensions": {q["code"]: q["dimension"] for q in questions},
        "overall_question": next(q["code"] for q in questions if q["overall"]),
        "top_box": list(TOP_BOX),
        "loyalty_mapping": dict(loyalty_mapping),
        "cli_levels": list(FAVOURABLE_LEVELS),
        "confidence": 0.95,
        "z": z,
        "interval": "normal approximation: CSI +/- z*sd/sqrt(n), sample sd, clamped to [0, 100]; null when n < 2",
        "rounding": ROUND,
    }
