"""The targets (met / not met) and the printed table of one run."""

from __future__ import annotations

from typing import Any


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #17's targets, each met or not in this run (ratios within the run)."""
    out = []
    by_writers = {row["writers"]: row for row in r.get("append", [])}
    for w in (8, 32):
        if w in by_writers:
            q = by_writers[w]["qualtrace"]
            out.append(
                {
                    "target": f"appends >= 0.9x raw at {w} writers, 0 skipped",
                    "value": f"{q['vs_raw']}x, {q['skipped']} skipped",
                    "met": q["vs_raw"] >= 0.9 and q["skipped"] == 0,
                }
            )
    w = r.get("wrk")
    if w and "qualtrace" in w and "crud" in w:
        q, c = w["qualtrace"], w["crud"]
        n, conns = w["processes"], w["connections"]
        out.append(
            {
                "target": f"POST /tickets >= 0.7x CRUD at {conns} connections (wrk, {n} processes each)",
                "value": f"{w['post_vs_crud']}x ({q['post']['per_second']} vs"
                f" {c['post']['per_second']} req/s; p99 {q['post']['p99_ms']} vs"
                f" {c['post']['p99_ms']} ms)",
                "met": w["post_vs_crud"] >= 0.7 and conns >= 32,
            }
        )
        out.append(
            {
                "target": f"GET /tickets/{{id}} >= 0.8x a plain SELECT endpoint (wrk, {conns} connections)",
                "value": f"{w['get_vs_select']}x ({q['get']['per_second']} vs"
                f" {c['get']['per_second']} req/s; p99 {q['get']['p99_ms']} vs"
                f" {c['get']['p99_ms']} ms)",
                "met": w["get_vs_select"] >= 0.8,
            }
        )
    for rec in r.get("reconstruct", []):
        if rec["events"] == 1000:
            p99 = rec["latest"]["p99_ms"]
            out.append(
                {
                    "target": "reconstruction p99 < 3 ms at 1,000 events",
                    "value": f"{p99} ms",
                    "met": p99 < 3,
                }
            )
    big = r.get("kpi_at_size", {})
    if "kpi_live" in big:
        events, p99 = big["events_in_store"], big["kpi_live"]["p99_ms"]
        out.append(
            {
                "target": "live KPI queries (a dimension, a custom range) p99 < 150 ms at 1M events",
                "value": f"{p99} ms at {events:,} events"
                + ("" if events >= 1_000_000 else " (not 1M: run with --large)"),
                "met": p99 < 150 and events >= 1_000_000,
            }
        )
    return out


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Qualtrace bench {r['started']}  PostgreSQL {r['postgresql']}, {r['cpus']} CPUs"
        f"{'  (--quick)' if r['quick'] else ''}; load average at start"
        f" {', '.join(f'{x:.1f}' for x in r.get('load_average_at_start', []))}",
        "",
        "Appends (events/s, one event per transaction; ratio to raw; skipped by a tailing reader)",
        f"{'writers':>8} {'raw':>8} {'library':>16} {'lib DB-functions':>24} {'qualtrace':>24}",
    ]
    for row in r.get("append", []):
        lib, fn, q = row["library_default"], row["library_db_functions"], row["qualtrace"]
        lines.append(
            f"{row['writers']:>8} {row['raw']['events_per_second']:>8} "
            f"{lib['events_per_second']:>7} ({lib['vs_raw']:.2f}x) "
            f"{fn['events_per_second']:>7} ({fn['vs_raw']:.2f}x) {fn['skipped']:>4} skip "
            f"{q['events_per_second']:>7} ({q['vs_raw']:.2f}x) {q['skipped']:>4} skip"
        )
    http = r.get("http", {})
    if http:
        lines += [
            "",
            "HTTP POST /tickets (requests/s, p50/p99 ms; ratio to crud)",
            f"{'clients':>8} {'qualtrace (API+projections)':>34} {'qualtrace API only':>34} {'crud baseline':>26}",
        ]
        for ours, api, crud in zip(
            http.get("qualtrace", []),
            http.get("qualtrace_api_only", []),
            http.get("crud", []),
            strict=False,
        ):

            def cell(x: dict[str, Any], crud: dict[str, Any] = crud) -> str:
                ratio = x["per_second"] / crud["per_second"] if crud["per_second"] else float("nan")
                return f"{x['per_second']:>8} {x['p50_ms']:>8} {x['p99_ms']:>8} ({ratio:.2f}x)"

            lines.append(
                f"{ours['clients']:>8} {cell(ours):>34} {cell(api):>34} "
                f"{crud['per_second']:>8} {crud['p50_ms']:>8} {crud['p99_ms']:>8}"
            )
        lines.append(
            f"peak memory (VmHWM): qualtrace {http.get('qualtrace_peak_memory_mb')} MB (API+projections),"
            f" {http.get('qualtrace_api_only_peak_memory_mb')} MB (API only),"
            f" crud {http.get('crud_peak_memory_mb')} MB"
        )
        if "kpi_demo_store" in http:
            k = http["kpi_demo_store"]
            lines.append(
                f"KPI queries on the demo store (service running its projections): p50 {k['p50_ms']} ms,"
                f" p99 {k['p99_ms']} ms ({k['samples']} samples)"
            )
    w = r.get("wrk")
    if w and "qualtrace" in w and "crud" in w:
        lines += [
            "",
            f"HTTP by wrk ({w.get('tool', 'wrk')}), {w['connections']} connections,"
            f" {w['seconds']} s per run; qualtrace serve --workers {w['processes']} (+1 worker"
            f" process) vs crud_app in {w['processes']} uvicorn processes",
            f"{'':<22} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            f" {'CPU ms/req':>10} {'errors':>7}  (CPU: server processes, api+worker; not PostgreSQL)",
        ]
        for what, key in (("POST /tickets", "post"), ("GET /tickets/{id}", "get")):
            for target in ("qualtrace", "crud"):
                x = w[target][key]
                errors = sum(x["errors"].values())
                roles = x.get("server_cpu_ms_per_request_by_role", {})
                cpu = (
                    f"{roles.get('api', 0):.2f}+{roles['worker']:.2f}"
                    if "worker" in roles
                    else x.get("server_cpu_ms_per_request", "")
                )
                lines.append(
                    f"{what + ' ' + target:<30} {x['per_second']:>9} {x['p50_ms']:>8} {x['p90_ms']:>8}"
                    f" {x['p99_ms']:>8} {x['max_ms']:>8} {cpu:>10}"
                    f" {errors:>7}"
                )
        lines.append(
            f"ratios: POST {w['post_vs_crud']}x, GET {w['get_vs_select']}x; load average"
            f" {', '.join(f'{x:.1f}' for x in w['load_average_before'])} before,"
            f" {', '.join(f'{x:.1f}' for x in w['load_average_after'])} after"
        )
    big = r.get("kpi_at_size", {})
    if "kpi_live" in big:
        k = big["kpi_live"]
        lines += [
            "",
            f"Live ticket KPI queries (shapes no report cell holds) at {big['events_in_store']:,} events:"
            f" p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms; per query p50/p99:",
        ]
        for q, v in k["by_query"].items():
            lines.append(f"  {q:<70} {v['p50_ms']:>7} / {v['p99_ms']:<7} (HTTP {v['status']})")
    if "kpi" in big:
        k = big["kpi"]
        lines += [
            "",
            f"Ticket KPI queries at {big['events_in_store']:,} events ({big['ticket_facts']:,} tickets): "
            f"p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms; per query p50/p99:",
        ]
        for q, v in k["by_query"].items():
            lines.append(f"  {q:<62} {v['p50_ms']:>7} / {v['p99_ms']:<7} (HTTP {v['status']})")
        if big.get("bulk"):
            b = big["bulk"]
            lines.append(
                f"  (bulk: {b['tickets']:,} ticket lifecycles in {b['seconds']} s through the Ticket aggregate;"
                f" KPI catch-up {big['kpi_catchup']['events_per_second']} events/s)"
            )
        if big.get("cells"):
            cl = big["cells"]
            lines.append(
                f"  (served from report cells: {cl['total_cells']} cells, first fill {cl['initial_fill_seconds']} s;"
                f" refresh of the {cl.get('refresh_cells')} cells {cl.get('refresh_after')} dirtied:"
                f" {cl.get('refresh_seconds')} s)"
            )
    if r.get("reconstruct"):
        lines += ["", "Reconstruction of one issue (ms): latest p50/p99 | no snapshots p50/p99"]
        for rec in r["reconstruct"]:
            lines.append(
                f"{rec['events']:>8} events: {rec['latest']['p50_ms']:>6} / {rec['latest']['p99_ms']:<6} |"
                f" {rec['no_snapshots']['p50_ms']:>6} / {rec['no_snapshots']['p99_ms']}"
            )
    if r.get("catchup") and "error" not in r["catchup"]:
        c = r["catchup"]
        lines += [
            "",
            f"Catch-up {c['projection']}: {c['batched']['events_per_second']} events/s batched,"
            f" {c['per_event']['events_per_second']} events/s one commit per event ({c['events_in_store']} events)",
        ]
    if r.get("demo"):
        d = r["demo"]
        lines.append(
            f"Demo: {d['events']} events from {d['commands']} commands in {d['seconds']} s "
            f"({d['commands_per_second']} commands/s), {d['rejected_commands']} rejected"
        )
    if r.get("catchup_all"):
        c = r["catchup_all"]
        lines.append(
            f"All projections from 0 over {c['events_in_store']} events: {c['seconds']} s "
            f"({c['store_events_per_second']} store events/s)"
        )
    notify = r.get("notify")
    if notify:  # notify: bench/notify_lag.py
        lines += [
            "",
            "Webhook delivery lag (commit -> receiver on 127.0.0.1)",
            f"  {notify['events']} events at {notify['rate_achieved']}/s (target"
            f" {notify['rate_target']}/s): delivered {notify['delivered']}, p50"
            f" {notify['lag_ms_p50']} ms, p99 {notify['lag_ms_p99']} ms, max {notify['lag_ms_max']} ms",
        ]
    lines += ["", "Targets"]
    for t in r.get("targets", []):
        lines.append(f"  [{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']}")
    return "\n".join(lines)
