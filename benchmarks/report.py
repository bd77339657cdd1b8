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
    lines = [
        "## Local end to end",
        "",
        f"`local train` then `local infer` on {e['rows']:,} rows each, through both pipeline definitions: "
        "every step a subprocess running its component's real entrypoint, files between steps, "
        "predictions through the model server's `/invocations`, HTML reports. Against "
        "`benchmarks/plain_pipeline.py`: the same compute (read, fit, predict, the drift tests, "
        "TreeSHAP on every row, a first model's gate, the scored rows kept for retraining) in one script, "
        "writing predictions, SHAP values and drift.json; once in one "
        "process, and once with TreeSHAP on the explainability container's worker pool over every core, as "
        "the pipeline runs it.",
        "",
        *_table(
            ["", "seconds (median of rounds)", "rounds"],
            [
                [
                    "plain script, one process",
                    _s(e["plain_median_seconds"]),
                    ", ".join(_s(s) for s in e["plain_seconds"]),
                ],
                [
                    "plain script, TreeSHAP on every core",
                    _s(e["pooled_median_seconds"]),
                    ", ".join(_s(s) for s in e["pooled_seconds"]),
                ],
                ["`local train` + `local infer`", _s(e["local_seconds"]), runs],
            ],
        ),
        f"Overhead: **{e['overhead_vs_pooled']:.2f}x** the script with the same parallelism, which is the "
        f"pipeline's own cost (separate processes, files between steps, the model server; goal ≤ 1.25x: "
        f"{_met(e['met'])}), and {e['overhead']:.2f}x the one-process script. The first run in a fresh "
        f"workspace took {_s(e['cold_seconds'])}: it also builds and caches both pipeline definitions, "
        "which imports the SageMaker SDK once.",
        "",
    ]
    if e.get("round_ratios"):
        ratios = ", ".join(f"{r:.2f}x" for r in e["round_ratios"])
        of_medians = e["local_seconds"] / e["pooled_median_seconds"]
        lines += [
            f"Measured {e['date']}. The overhead is the median of each round's own ratio ({ratios}); the ratio "
            f"of the two medians above is {of_medians:.2f}x. The three runs of a round go side by side, every "
            "other round in the opposite order, so a machine that slows down or speeds up during the run "
            "weighs on both sides alike.",
            "",
        ]
    phases = e.get("pooled_phases")
    if phases:
        median = {key: statistics.median(p[key] for p in phases) for key in phases[0]}
        train = statistics.median(r["train_seconds"] for r in e["local_runs"])
        infer = statistics.median(r["infer_seconds"] for r in e["local_runs"])
        lines += [
            *_table(
                ["", "plain script, every core", "pipelines", "difference"],
                [
                    ["interpreter start and imports", _s(median["start_and_imports"]), "in each step", ""],
                    ["training", _s(median["train"]), _s(train), _s(train - median["train"])],
                    ["inference", _s(median["infer"]), _s(infer), _s(infer - median["infer"])],
                ],
            ),
            "Medians over the rounds. The script pays its start and imports once; each pipeline command "
            "pays its own start, and each step its own process, inputs and outputs on disk, and (Transform) "
            "the model server.",
            "",
        ]
    b = e.get("breakdown")
    if b:
        steps = [[kind, name, _s(seconds)] for kind, named in b["steps"].items() for name, seconds in named.items()]
        imports = ", ".join(f"{c} {_s(v)}" for c, v in b["import_seconds"].items())
        lines += [
            "Where the local run's time goes, step by step (the last round; independent steps run two at a time):",
            "",
            *_table(["pipeline", "step", "seconds"], steps),
            "Every job is its own process, forked from the warm interpreter (`local/warm.py`), which "
            "imported the libraries once per run; the project's own modules are imported in each job. A cold "
            f"job (`LOCAL_WARM_START=0`, or a container) would first pay the interpreter's start, "
            f"{_s(b['interpreter_start_seconds'])}, and its component's imports: {imports}.",
            "",
        ]
    return lines


def _drift(d: dict[str, Any]) -> list[str]:
    ours, theirs, a, limit = d["ours"], d["evidently"], d["agreement"], d["limit"]
    parts = dict(d["breakdown"])
    rest = [k for k in parts if k.startswith("other")]
    # Start and imports are timed in separate runs, the phases inside the job: the sum can overshoot a little.
    overshoot = -parts[rest[0]] if rest and parts[rest[0]] < 0 else 0.0
    if overshoot:
        parts.pop(rest[0])
    breakdown = ", ".join(f"{name} {_s(seconds)}" for name, seconds in parts.items())
    if overshoot:
        breakdown += f" (these parts, timed in separate runs, add up to {_s(overshoot)} more than the job took)"
    return [
        "## Drift detection",
        "",
        f"Monitoring serve (the real entrypoint, reading the CSV in 16 MB blocks with pyarrow on every core, "
        "the strict CSV rules checked in the same pass, against a baseline built "
        f"once from {d['reference_rows']:,} reference rows in {_s(d['baseline_seconds'])}) against "
        "Evidently's `DataDriftPreset`, which reads the reference and the production CSV on every "
        f"run, on {d['rows']:,} rows ({d['csv_mb']:,.0f} MB CSV) with {d['features']} features: 16 numeric of four "
        f"shapes, 4 categorical. The production batch shifts {', '.join(d['truth'])} and nothing else.",
        "",
        *_table(
            ["", "seconds", "peak memory"],
            [
                ["monitoring serve", _s(ours["seconds"]), _mb(ours["peak_mb"])],
                [
                    f"Evidently ({_s(theirs['read_seconds'])} of it reading)",
                    _s(theirs["seconds"]),
                    _mb(theirs["peak_mb"]),
                ],
                ["read limit: the same reader and one histogram pass", _s(limit["seconds"]), _mb(limit["peak_mb"])],
            ],
        ),
        f"**{d['speedup']:.1f}x** faster than Evidently ({d['speedup_vs_report_only']:.1f}x against its report "
        f"alone), with **{d['memory_ratio']:.1f}x** less memory, and {limit['within']:.2f}x the read limit. "
        f"Goal ≥ 25x, the same per-feature decisions, and within 2x of the limit: {_met(d['met'])}.",
        "",
        f"- Decisions: ours flagged {', '.join(ours['drifted_features']) or 'nothing'} (matches the truth: "
        f"{a['ours_matches_truth']}); Evidently flagged {', '.join(theirs['drifted_features']) or 'nothing'} "
        f"(matches: {a['evidently_matches_truth']}); {a['features_agreeing']}/{a['features']} features agree. "
        f"Dataset decision: ours {a['dataset_decision_ours']}, Evidently {a['dataset_decision_evidently']} "
        f"(Evidently calls the dataset drifted only when at least {theirs['drift_share']:.0%} of columns drift; "
        "ours acts on any drifted feature).",
        f"- Where our time goes: {breakdown}.",
        "",
    ]


def _memory(m: dict[str, Any]) -> list[str]:
    rows = []
    for name, series in m["series"].items():
        growth = m["growth"][name]
        sizes = " → ".join(f"{r['rows']:,}" for r in series)
        peaks = " → ".join(_mb(r["peak_mb"]) for r in series)
        seconds = " → ".join(_s(r["seconds"]) for r in series)
        rows.append(
            [
                f"{name} serve",
                sizes,
                peaks,
                seconds,
                f"{growth['rows_ratio']:.0f}x",
                f"{growth['peak_memory_ratio']:.2f}x",
            ]
        )
    return [
        "## Bounded memory of the serve modes",
        "",
        "Peak resident memory of each serve-mode job (its largest process, measured from a small launcher so "
        "that the harness's own memory is not counted) at three sizes spanning 100x. The data is read in "
        "chunks, so the peak should not follow the rows.",
        "",
        *_table(["job", "rows", "peak memory", "seconds", "rows grew", "largest peak / smallest"], rows),
        f"Goal: every peak within 1.25x of the smallest size's: {_met(m['met'])}.",
        "",
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
        *_workers(x.get("workers")),
    ]


def _workers(w: dict[str, Any] | None) -> list[str]:
    if not w:
        return []
    per_second = w["rows_per_second"]
    return [
        f"Explainability serve (the real entrypoint) on {w['rows']:,} processed rows with 1 and 2 worker processes, "
        f"on a {w['cores']}-core machine, against shap's raw `TreeExplainer.shap_values` on the same rows in one "
        "process:",
        "",
        *_table(
            ["", "rows per second"],
            [
                ["explainability serve, 1 worker", f"{per_second['1']:,.0f}"],
                ["explainability serve, 2 workers", f"{per_second['2']:,.0f}"],
                ["shap TreeExplainer, one process, in memory", f"{w['shap_raw_rows_per_second']:,.0f}"],
            ],
        ),
        f"From 1 to 2 workers: **{w['scaling_1_to_2']:.2f}x** (goal ≥ 1.7x, byte-identical output: "
        f"{w['identical_output']}): {_met(w['met'])}.",
        "",
    ]


def _caching(c: dict[str, Any]) -> list[str]:
    def ran(run: dict[str, Any]) -> str:
        return ", ".join(name for name, outcome in run["steps"].items() if outcome == "ran") or "none"

    return [
        "## Step caching",
        "",
        f"Measured {c['date']}. `local train` on {c['rows']:,} rows, three times in one workspace: cold, "
        "again on the same data, "
        "then after setting `l2_regularization` from 0.0 to 1.0 in `config/project.yaml`. Every run's "
        "pipeline definition was built beforehand (the SageMaker SDK's import is not a step).",
        "",
        *_table(
            ["run", "seconds", "ratio to cold", "steps that ran"],
            [
                ["cold", _s(c["cold"]["seconds"]), "1.00x", ran(c["cold"])],
                ["warm (same data)", _s(c["warm"]["seconds"]), f"{c['warm_ratio']:.2f}x", ran(c["warm"])],
                [
                    "one hyperparameter changed",
                    _s(c["one_parameter"]["seconds"]),
                    f"{c['one_parameter_ratio']:.2f}x",
                    ran(c["one_parameter"]),
                ],
            ],
        ),
        f"Goal: {c['goal']}. {_met(c['met'])}",
        "",
        "A warm run still runs TrainingData, TrainingDataSnapshot and Gate, which are never cached: they read "
        "the labels that keep landing and the promoted model of the moment. Their work on unchanged data is "
        "small (no row is counted or copied, and the champion's own model is not compared again); most of "
        "the warm run is the job interpreter's start, which a run that ran no job at all did not pay.",
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


def _estimators(e: dict[str, Any]) -> list[str]:
    base = e["estimators"]["hist_gradient_boosting"]
    added = e["image_mb_added"]
    rows = []
    for name, r in e["estimators"].items():
        scored, explained = r["invocations_rows_per_second"], r["explained_rows_per_second"]
        rows.append(
            [
                f"`{name}`",
                f"{r['fit_seconds']:.2f} s ({r['fit_seconds'] / base['fit_seconds']:.2f}x)",
                f"{scored:,.0f} ({scored / base['invocations_rows_per_second']:.2f}x)",
                f"{explained:,.0f} ({explained / base['explained_rows_per_second']:.3f}x)",
                r["explanation"],
                f"{added[name]:.1f} MB" if name in added else "nothing",
            ]
        )
    return [
        "## Estimators",
        "",
        f"Every built-in estimator and the custom example, fitted on the same {int(e['rows'] * 0.8):,} training "
        "rows of the binary sample in one run (`make bench-estimators`), with the hyperparameters its bake "
        "writes. Scoring is the model server's `/invocations` called in process (parse, prepare, predict, "
        "format) on 10,000 rows; explaining is the method the estimator's contract chooses. In brackets: the ratio to "
        "HistGradientBoosting. The last column is the installed size its bake adds to each image.",
        "",
        *_table(["estimator", "fit", "/invocations rows/s", "explained rows/s", "explanation", "image adds"], rows),
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
    if "step_caching" in results:
        lines += _caching(results["step_caching"])
    lines += _drift(results["drift"])
    lines += _memory(results["serve_memory"])
    lines += _scoring(results["scoring"])
    lines += _explanations(results["explanations"])
    lines += _first_result(results["time_to_first_result"])
    if "images" in results:
        lines += _images(results["images"])
    if "load" in results:
        lines += _load(results["load"])
    if "estimators" in results:
        lines += _estimators(results["estimators"])
    return "\n".join(lines).rstrip() + "\n"
