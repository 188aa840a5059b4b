"""The most connections `serve` may open (qualtrace/connections.py), against what the
server allows: the default fits max_connections=100; more API processes need a smaller
pool, and the advice given is the largest pool that fits."""

from __future__ import annotations

from qualtrace.connections import largest_pool_size, most


def test_the_default_one_api_process_and_a_worker_fit_in_a_default_server() -> None:
    # 1 API process (5 × 8 + 3) and the worker (5 × 8 + 6): under 97 (100 less 3 reserved).
    assert most(1, 8) == 89 <= 97


def test_more_api_processes_need_a_smaller_pool_and_the_advice_fits() -> None:
    assert most(2, 8) == 132 > 97
    assert most(4, 8) > 97
    for processes in (2, 4):
        size = largest_pool_size(processes, 97)
        assert most(processes, size) <= 97 < most(processes, size + 1)
    assert largest_pool_size(2, 97) == 5 and largest_pool_size(4, 97) == 3
    assert most(1, 8, worker=False) == 43
