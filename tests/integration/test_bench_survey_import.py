"""bench/survey_import.py's entry point runs end to end on a small file (speed is measured
by running the benchmark, never asserted in tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "survey_import.py"


def test_the_survey_import_benchmark_imports_rejects_and_recognises_a_file(db_url: str) -> None:
    spec = importlib.util.spec_from_file_location("bench_survey_import", BENCH)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run_survey_import(url=db_url, rows=60, low_pct=10)
    assert result["recorded"] == 60 and result["results"]["n"] == 60
    # one event per response, one per improvement action, one for the import itself
    assert result["events_recorded"] == 60 + result["nonconformances"] + 1
    assert result["rejected"]["errors"] == 1 and result["reimport"]["recorded"] == 0
