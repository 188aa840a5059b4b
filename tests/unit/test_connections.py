"""The most connections `serve` may open (qualtrace/connections.py), against what the
server allows: one API process and the worker fit max_connections=100 at pool size 7
(the default 8 is a ceiling `serve` lowers to fit); more API processes need a smaller
pool, and the advice given is the largest pool that fits."""

from __future__ import annotations

from qualtrace.connections import largest_pool_size, most


def test_one_api_process_and_a_worker_fit_a_default_server_at_pool_size_7() -> None:
    # 1 API process (5 × P + 6) and the worker (5 × P + 15), under 97 (100 less 3 reserved).
    assert most(1, 7) == 91 <= 97 < most(1, 8) == 101
    assert largest_pool_size(1, 97) == 7


def test_more_api_processes_need_a_smaller_pool_and_the_advice_fits() -> None:
    assert most(2, 8) == 147 > 97
    assert most(4, 8) > 97
    for processes in (2, 4):
        size = largest_pool_size(processes, 97)
        assert most(processes, size) <= 97 < most(processes, size + 1)
    assert largest_pool_size(2, 97) == 4 and largest_pool_size(4, 97) == 2
    assert most(1, 8, worker=False) == 46
