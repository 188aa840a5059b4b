"""bench/catchup.py's entry point runs end to end on a small history (speed is measured
by running the benchmark, never asserted in tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "catchup.py"


def test_the_catchup_benchmark_builds_the_whole_projection_both_ways(db_url: str) -> None:
    spec = importlib.util.spec_from_file_location("bench_catchup", BENCH)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run_catchup(url=db_url, tickets=30, sample=20, batch=50)
    # 30 lifecycles of 6 events (every 7th callback is unsatisfied: reopened instead of
    # closed), plus the region and two projects.
    assert result["events_in_store"] == 30 * 6 + 3
    assert result["batched"]["events"] == result["events_in_store"]
    assert result["per_event"]["events"] == 20
    # (The rebuild's `position` may still wait for other transactions on the server to end.)
    assert result["rebuild"]["fact_rows"] == 30 and result["rebuild"]["generation"] == 2
