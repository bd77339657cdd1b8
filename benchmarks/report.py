"""BENCHMARKS.md from results.json: the tables, the goals, and the machine they were measured on."""

from __future__ import annotations

import statistics
from typing import Any


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _mb(mb: float) -> str:
    return f"{mb:,.0f} MB" if mb < 10_240 else f"{mb / 1024:.1f} GB"


def _met(flag: bool) -> str:
    return "met" if flag else "**not met**"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def _machine(m: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
        f"Python {m['python']}, {m['platform']}.",
        "",
        f"Packages: {packages}.",
        "",
    ]


def _end_to_end(e: dict[str, Any]) -> list[str]:
    runs = ", ".join(_s(r["total"]) for r in e["local_runs"])
    return [
        "## Local end to end",
        "",
        f"`local train` then `local infer` on {e['rows']:,} rows each, through both pipeline definitions: "
        "every step a subprocess running its component's real entrypoint, files between steps, "
        "predictions through the model server's `/invocations`, HTML reports. Against "
        "`benchmarks/plain_pipeline.py`: the same compute (read, fit, predict, the drift tests, "
        "TreeSHAP on every row) in one process, writing predictions, SHAP values and drift.json.",
        "",
        *_table(
            ["", "seconds (median of rounds)", "rounds"],
            [
                [
                    "plain script, one process",
                    _s(e["plain_median_seconds"]),
                    ", ".join(_s(s) for s in e["plain_seconds"]),
                ],
                ["`local train` + `local infer`", _s(e["local_seconds"]), runs],
            ],
        ),
        f"Overhead: **{e['overhead']:.2f}x** (goal ≤ 1.5x: {_met(e['met'])}). The first run in a fresh "
        f"workspace took {_s(e['cold_seconds'])}: it also builds and caches both pipeline definitions, "
        "which imports the SageMaker SDK once.",
        "",
    ]


def _drift(d: dict[str, Any]) -> list[str]:
    rows = []
    for size in d["sizes"]:
        ours, theirs = size["ours"], size["evidently"]
        if "failed" in theirs:
            rows.append([f"{size['rows']:,}", _s(ours["seconds"]), _mb(ours["peak_mb"]), "failed", "", "", "", ""])
            continue
        agreement = size["agreement"]
        rows.append(
            [
                f"{size['rows']:,} ({size['csv_mb']:,.0f} MB CSV)",
                _s(ours["seconds"]),
                _mb(ours["peak_mb"]),
                f"{_s(theirs['seconds'])} ({_s(theirs['read_seconds'])} reading)",
                _mb(theirs["peak_mb"]),
                f"**{size['speedup']:.1f}x** ({size['speedup_vs_report_only']:.1f}x vs its report alone)",
                f"{size['memory_ratio']:.1f}x",
                f"{agreement['features_agreeing']}/{agreement['features']}",
            ]
        )
    failures = [s for s in d["sizes"] if "failed" in s["evidently"]]
    lines = [
        "## Drift detection",
        "",
        f"Monitoring serve (the real entrypoint, reading the CSV in chunks against a baseline built "
        f"once from {d['reference_rows']:,} reference rows in {_s(d['baseline_seconds'])}) against "
        "Evidently's `DataDriftPreset`, which reads the reference and the production CSV on every "
        "run. 20 features: 16 numeric of four shapes, 4 categorical. The production batch shifts "
        f"{', '.join(d['truth'])} and nothing else.",
        "",
        *_table(
            [
                "rows",
                "ours",
                "ours, peak",
                "Evidently",
                "Evidently, peak",
                "faster",
                "less memory",
                "same per-feature decision",
            ],
            rows,
        ),
        f"Goal ≥ 10x faster and ≤ 1 GB at the largest size: {_met(d['met'])}.",
        "",
    ]
    for size in d["sizes"]:
        if "agreement" not in size:
            continue
        a = size["agreement"]
        lines.append(
            f"- {size['rows']:,} rows: ours flagged {', '.join(size['ours']['drifted_features']) or 'nothing'} "
            f"(matches the truth: {a['ours_matches_truth']}); Evidently flagged "
            f"{', '.join(size['evidently']['drifted_features']) or 'nothing'} "
            f"(matches: {a['evidently_matches_truth']}). "
            f"Dataset decision: ours {a['dataset_decision_ours']}, Evidently {a['dataset_decision_evidently']} "
            f"(Evidently calls the dataset drifted only when at least {size['evidently']['drift_share']:.0%} of "
            "columns drift; ours acts on any drifted feature)."
        )
    for size in failures:
        lines.append(f"- {size['rows']:,} rows: Evidently failed: `{size['evidently']['failed'][-300:]}`")
    return [*lines, ""]


def _memory(m: dict[str, Any]) -> list[str]:
    rows = []
    for name, series in m["series"].items():
        growth = m["growth"][name]
        sizes = " → ".join(f"{r['rows']:,}" for r in series)
        peaks = " → ".join(_mb(r["peak_mb"]) for r in series)
        rows.append(
            [f"{name} serve", sizes, peaks, f"{growth['rows_ratio']:.0f}x", f"{growth['peak_memory_ratio']:.2f}x"]
        )
    return [
        "## Bounded memory of the serve modes",
        "",
        "Peak resident memory of each serve-mode job (its whole process) at two sizes ten times apart. "
        "The data is read in chunks, so the peak should not follow the rows.",
        "",
        *_table(["job", "rows", "peak memory", "rows grew", "peak grew"], rows),
    ]


def _scoring(s: dict[str, Any]) -> list[str]:
    return [
        "## Scoring",
        "",
        f"{s['rows']:,} processed rows sent to the algorithm container's `/invocations` (the real serve "
        f"entrypoint, waitress) as {s['payloads']} MultiRecord mini-batches of at most "
        f"{s['max_payload_mb']} MB, {s['concurrent_requests']} at a time, as Batch Transform sends them. "
        "Against in-process `predict` on the same rows, already parsed. Best of the repeats for each; "
        "client and server share the machine's cores.",
        "",
        *_table(
            ["", "rows per second"],
            [
                ["in-process predict", f"{s['in_process_rows_per_second']:,.0f}"],
                ["/invocations", f"{s['invocations_rows_per_second']:,.0f}"],
            ],
        ),
        f"Throughput: **{s['ratio']:.0%}** of in-process (goal ≥ 50%: {_met(s['met'])}).",
        "",
    ]


def _explanations(x: dict[str, Any]) -> list[str]:
    relative = x["kernel_relative_error"]
    return [
        "## Explanations",
        "",
        f"Exact TreeSHAP (what the explainability container runs) on {x['tree_rows']:,} rows, against "
        f"KernelSHAP with a k-means background ({x['kernel_background']}, Clarify's method) on "
        f"{x['kernel_rows']} of the same rows, both explaining the {x['model_output']}.",
        "",
        *_table(
            ["", "ms per row"],
            [["TreeSHAP (exact)", f"{x['tree_ms_per_row']:.2f}"], ["KernelSHAP", f"{x['kernel_ms_per_row']:.1f}"]],
        ),
        f"TreeSHAP is **{x['speedup']:,.0f}x** faster per row, and exact. KernelSHAP's values differ from "
        f"the exact ones by {x['kernel_mean_abs_error_vs_exact']:.4f} on average"
        + (f" ({relative:.0%} of the mean absolute SHAP value)" if relative is not None else "")
        + ": partly its sampling, partly that it explains against a 10-point background summary "
        "rather than the trees' own path-dependent expectations.",
        "",
    ]


def _first_result(t: dict[str, Any]) -> list[str]:
    return [
        "## Time to first result",
        "",
        *_table(
            ["", "seconds"],
            [
                ["bake the defaults (`cookiecutter --no-input`)", _s(t["bake_seconds"])],
                [f"the generated test suite, `-n 2` ({t['test_suite_summary']})", _s(t["test_suite_seconds"])],
            ],
        ),
        "The suite ran in the template's venv, which holds the generated repository's own lock; a "
        "generated `make test` first builds its own venv from that lock.",
        "",
    ]


def _images(i: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"`customer-churn-{c}`",
            _mb(i["image_mb"][c]),
            _mb(i["above_base_mb"][c]),
            _s(i["cold_build_per_image_seconds"].get(f"customer-churn-{c}", 0.0)),
        ]
        for c in ("processing", "algorithm", "monitoring", "explainability")
    ]
    seconds = i["local_seconds"]
    return [
        "## Images",
        "",
        f"Built by the bake's `images build` with {i['engine']} on `{i['base_image']}` ({_mb(i['base_mb'])}). "
        "The four images share every layer up to the code, so the first build pays for pip and the others "
        "reuse its layers.",
        "",
        *_table(["image", "size", "above the base", "cold build"], rows),
        *_table(
            ["", "seconds", "ratio", "goal"],
            [
                ["cold build of all four (no project layer cached)", _s(i["cold_build_seconds"]), "1.00", ""],
                [
                    "rebuild of all four after a code-only change",
                    _s(i["rebuild_after_code_change_seconds"]),
                    f"{i['rebuild_ratio']:.3f}",
                    f"≤ 0.10: {_met(i['rebuild_ratio'] <= 0.10)}",
                ],
            ],
        ),
        f"`local train` + `local infer` on {i['rows']:,} rows each, in the venv and with `--containers` "
        "(every job in its image), alternated round by round:",
        "",
        *_table(
            ["", "median", "rounds"],
            [
                ["venv", _s(statistics.median(seconds["venv"])), ", ".join(_s(x) for x in seconds["venv"])],
                [
                    "`--containers`",
                    _s(statistics.median(seconds["containers"])),
                    ", ".join(_s(x) for x in seconds["containers"]),
                ],
            ],
        ),
        f"`--containers` overhead: **{i['containers_overhead']:.2f}x** the venv's time.",
        "",
    ]


def _load(x: dict[str, Any]) -> list[str]:
    statuses = ", ".join(f"{n:,} x {s}" for s, n in sorted(x["statuses"].items()))
    return [
        "## Model server under load",
        "",
        f"{x['requests']:,} requests to the real serve entrypoint (waitress) over the loopback, {x['clients']} "
        f"concurrent clients, each request on its own connection; {x['rows_per_request']} records per good request, "
        f"and {x['malformed']:,} malformed ones (short rows, text, quotes, bare CR, latin-1, empty bodies).",
        "",
        *_table(
            ["p50", "p99", "max", "requests per second", "statuses", "5xx", "wrong answers"],
            [
                [
                    f"{x['p50_ms']:.1f} ms",
                    f"{x['p99_ms']:.1f} ms",
                    f"{x['max_ms']:.1f} ms",
                    f"{x['requests_per_second']:,.0f}",
                    statuses,
                    str(x["server_errors"]),
                    str(x["wrong_answers"]),
                ]
            ],
        ),
        f"Server resident memory: {_mb(x['server_rss_mb_before'])} before, {_mb(x['server_rss_mb_after'])} after; "
        f"it answered `/invocations` afterwards: {x['alive_after']}. A wrong answer is a good request not answered "
        "200 with one line per record, or a malformed one not answered 400.",
        "",
    ]


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` from `benchmarks/results.json`; do not edit by hand. Every figure is "
        "a ratio of two measurements taken side by side in the same run. Nothing in `make test` "
        "asserts a time.",
        "",
    ]
    if results["quick"]:
        lines += ["**Quick run (`--quick`): sizes are a tenth of the published ones.**", ""]
    lines += _machine(results["machine"])
    lines += _end_to_end(results["local_end_to_end"])
    lines += _drift(results["drift"])
    lines += _memory(results["serve_memory"])
    lines += _scoring(results["scoring"])
    lines += _explanations(results["explanations"])
    lines += _first_result(results["time_to_first_result"])
    if "images" in results:
        lines += _images(results["images"])
    if "load" in results:
        lines += _load(results["load"])
    return "\n".join(lines).rstrip() + "\n"
