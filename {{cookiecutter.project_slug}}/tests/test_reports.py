"""The reports people read: what each shows, and that each is self-contained (no CDN, no script)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.components.algorithm.evaluation_report import (
    render_evaluation,
)
from {{ cookiecutter.package_name }}.components.explainability.explanations_report import (
    render_summary,
)
from {{ cookiecutter.package_name }}.components.explainability.shap_values import (
    explain,
    global_importance,
)
from {{ cookiecutter.package_name }}.components.monitoring.baseline import (
    build_baseline,
)
from {{ cookiecutter.package_name }}.components.monitoring.drift import (
    compare,
)
from {{ cookiecutter.package_name }}.components.monitoring.drift_report import (
    render_report,
)
from {{ cookiecutter.package_name }}.components.monitoring.summary import (
    empty_templates,
    summarize,
)
from {{ cookiecutter.package_name }}.sample_data import (
    generate,
)

EXTERNAL = re.compile(r"""(src|href)=["']?(https?:)?//|<script|@import|url\(""", re.IGNORECASE)


def assert_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not EXTERNAL.search(html), EXTERNAL.search(html)


@pytest.fixture(scope="module")
def drift_report(config):
    data = config["data"]
    training = generate(5000, target_column=data["target_column"], problem_type=data["problem_type"], seed=11)
    statistics, constraints = build_baseline(
        training, excluded_columns=[data["target_column"]], settings=config["monitoring"]
    )
    production = generate(1500, seed=12, drift_stage=3)
    summaries = summarize(production, empty_templates(statistics))
    violations, drift, production_statistics = compare(summaries, list(production.columns), statistics, constraints)
    return render_report(drift, violations, "Data drift report", statistics, production_statistics), drift


def test_drift_report_shows_decision_distributions_and_violations(drift_report):
    html, drift = drift_report
    assert_self_contained(html)
    assert "Drift detected" in html
    assert html.count("<svg") == len(drift["features"])
    first_chart = html.index("<h2>Distributions</h2>")
    first_feature = re.search(r"<h3>([^<—]+)", html[first_chart:]).group(1).strip()
    assert first_feature in drift["drifted_features"], "drifted features come first"
    assert "digital-wallet" in html, "a category production introduced is drawn"
    assert "baseline_drift_check" in html


def test_evaluation_report_explains_the_metrics(trained_model, processed, problem_type):
    from {{ cookiecutter.package_name }}.components.algorithm.model import (
        evaluate,
    )

    _, _, validation = processed
    metrics = evaluate(trained_model, validation)
    html = render_evaluation(trained_model, validation, metrics)
    assert_self_contained(html)
    for name, value in metrics.items():
        assert f"{value:.4f}" in html and name in html
    if problem_type == "regression":
        assert "Residuals" in html and html.count("<circle") > 100
    else:
        assert "Confusion matrix" in html and "<polyline" in html
        for label in trained_model.schema.classes:
            assert f"<th>{label}</th>" in html


def test_shap_summary_has_global_and_top_feature_plots(trained_model, processed):
    schema, _, validation = processed
    X = validation.iloc[:200, 1:].to_numpy()
    explanation = explain(trained_model, X)
    html, png = render_summary(
        global_importance(explanation), X, explanation.values, schema.feature_names, explanation.outputs
    )
    assert png.startswith(b"\x89PNG")
    assert_self_contained(html)
    assert html.count('src="data:image/png;base64,') == 4, "global importance plus the three top features"
    top = max(global_importance(explanation)[next(iter(explanation.values))].items(), key=lambda kv: kv[1])[0]
    assert f"{top}: value against SHAP value" in html


def test_reports_escape_names(trained_model):
    from {{ cookiecutter.package_name }}.reports import (
        paired_bars,
    )

    chart = paired_bars(["<b>x</b>"], [0.5], [0.25], "a <caption>")
    assert "<b>x</b>" not in chart and "&lt;b&gt;" in chart
    assert np.isfinite(0.5)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def colour_share(png_path, rgb, tolerance=12):
    from PIL import Image

    pixels = np.asarray(Image.open(png_path).convert("RGB"), dtype=int)
    close = np.all(np.abs(pixels - np.array(rgb)) <= tolerance, axis=-1)
    return close.mean()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_drift_report_renders_its_charts_in_headless_chromium(drift_report, tmp_path):
    html, _ = drift_report
    page_path = tmp_path / "report.html"
    page_path.write_text(html)
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
            page_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert shot.is_file(), result.stderr[-2000:]
    assert colour_share(shot, (214, 69, 69)) > 0.001, "production bars (red) must be drawn"
    assert colour_share(shot, (159, 179, 200)) > 0.001, "baseline bars (grey) must be drawn"
    assert colour_share(shot, (255, 255, 255)) > 0.3, "a readable page is mostly background"
