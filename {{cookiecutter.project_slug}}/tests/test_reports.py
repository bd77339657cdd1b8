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
    dependence_chart,
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
    # The rule that reads the table: both a distance above the threshold and a p-value below alpha.
    alpha = f"{drift['per_test_significance']:.2g}"
    assert f"its distance is above its threshold and its p-value is below {alpha}" in html
    for name, result in drift["features"].items():
        heading = f"{name} — distance {result['statistic']:.3f} vs threshold {result['threshold']}, p-value"
        assert f"{heading} {result['p_value']:.3g} vs {alpha}</h3>" in html, name


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
    importance = global_importance(explanation)
    html, svg = render_summary(importance, X, explanation.values, schema.features, explanation.outputs)
    assert svg.startswith("<svg") and svg in html
    assert_self_contained(html)
    assert html.count("<svg") == 4, "global importance plus the three top features"
    label = next(iter(explanation.values))
    ranked = sorted(importance[label], key=lambda name: -importance[label][name])
    assert f"mean |SHAP value| ({label})" in svg and all(f">{name}</text>" in svg for name in ranked[:5])
    for name in ranked[:3]:
        assert f"{name}: value against SHAP value" in html
    assert html.count(">SHAP value</text>") == 3, "each dependence plot labels its y axis"


def test_a_categorical_features_dependence_plot_names_its_categories(trained_model, processed):
    schema, _, validation = processed
    X = validation.iloc[:200, 1:].to_numpy()
    explanation = explain(trained_model, X)
    label = next(iter(explanation.values))
    column, feature = next((i, f) for i, f in enumerate(schema.features) if f.kind == "categorical")
    chart = dependence_chart(feature, X[:, column], explanation.values[label][:, column])
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)<title>([^<]*)</title>', chart)
    assert [full for _, full in ticks][: len(feature.categories)] == feature.categories
    assert f"{feature.name} (category)" in chart and "by code" not in chart
    assert chart.count("<circle") == int(np.isfinite(explanation.values[label][:, column]).sum())


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


def chromium(html: str, tmp_path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `html` (written to tmp_path/page.html) with `flags` (--screenshot=..., --dump-dom)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    page_path = tmp_path / "page.html"
    page_path.write_text(html)
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", *flags, page_path.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_drift_report_renders_its_charts_in_headless_chromium(drift_report, tmp_path):
    html, _ = drift_report
    shot = tmp_path / "report.png"
    result = chromium(html, tmp_path, "--window-size=1200,2400", f"--screenshot={shot}")
    assert shot.is_file(), result.stderr[-2000:]
    assert colour_share(shot, (214, 69, 69)) > 0.001, "production bars (red) must be drawn"
    assert colour_share(shot, (159, 179, 200)) > 0.001, "baseline bars (grey) must be drawn"
    assert colour_share(shot, (255, 255, 255)) > 0.3, "a readable page is mostly background"


def rendered_dom(html: str, tmp_path) -> str:
    """The page as headless Chromium parsed it (its DOM, serialised)."""
    result = chromium(html, tmp_path, "--dump-dom")
    assert "</svg>" in result.stdout, result.stderr[-2000:]
    return result.stdout


def svg_texts(dom: str, kind: str) -> list[str]:
    """The text of each SVG <text> of a class: "axis-label" or "tick"."""
    return re.findall(rf'<text class="{kind}"[^>]*>([^<]*)', dom)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_every_chart_in_every_report_has_labelled_axes_ticks_and_a_legend_where_it_has_series(
    drift_report, trained_model, processed, tmp_path
):
    from {{ cookiecutter.package_name }}.components.algorithm.model import (
        evaluate,
    )

    schema, _, validation = processed
    X = validation.iloc[:200, 1:].to_numpy()
    explanation = explain(trained_model, X)
    importance = global_importance(explanation)
    summary, _ = render_summary(importance, X, explanation.values, schema.features, explanation.outputs)
    evaluation = render_evaluation(trained_model, validation, evaluate(trained_model, validation))
    pages = {"drift": drift_report[0], "evaluation": evaluation, "summary": summary}
    for name, html in pages.items():
        dom = rendered_dom(html, tmp_path / name)
        charts = dom.count("<svg")
        assert charts, name
        assert len([t for t in svg_texts(dom, "axis-label") if t.strip()]) >= charts, f"{name}: an axis without a label"
        assert len(svg_texts(dom, "tick")) >= 2 * charts, f"{name}: a chart without ticks"
        if name == "drift":
            assert dom.count('class="legend"') == charts and "baseline (training)" in dom
        if name == "summary":  # a top feature that is a category is drawn by its categories' names
            label = next(iter(importance))
            top = sorted(importance[label], key=lambda f: -importance[label][f])[:3]
            for feature in (f for f in schema.features if f.name in top and f.kind == "categorical"):
                assert all(f"<title>{c}</title>" in dom for c in feature.categories), feature.name
