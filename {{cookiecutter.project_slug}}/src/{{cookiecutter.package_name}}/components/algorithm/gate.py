"""The champion-challenger gate: a new model and the serving one, scored on the same labelled rows.

Two sets of rows, both unseen by either model in training: the most recent labelled
production rows, held out of the retraining data by scoring time (`recent`), and the new
model's validation split (`validation`; the split keys each row on its own values, so the
champion never trained on them either). Each model prepares the raw rows its own way, so
models trained on different data compare fairly.

For each metric: both values, their difference, and a paired bootstrap interval of it (the
same resampled rows for both models). The decision, on the primary metric (AUC, accuracy or
RMSE):
- the challenger must beat the best constant predictor on the deciding set (the recent rows
  when there are `min_rows` of them, else validation);
- with a champion, it must be better on the deciding set beyond noise (the 95% interval of
  the improvement above zero: a tie keeps the champion);
- and the other set, when it has `min_rows` rows, vetoes a challenger that is worse there by
  more than `tolerance`, beyond noise (the whole interval below: after a concept drift the
  older rows of the validation split follow the old relation, where the champion may look
  better by chance of the mix, and only clear harm should count).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import channels
from ...data_schema import class_label
from ...model_metrics import METRICS, PRIMARY, Outcomes, best_constant, metric_values, tie_groups
from ..processing.preprocess import transform
from .model import TrainedModel, predict_proba

ROUNDS = 1000
BOOTSTRAP_ROWS = 20_000  # rows a bootstrap round draws at most (see paired_bootstrap)
CONFIDENCE = 0.95
SETS = (channels.RECENT, channels.VALIDATION)


@dataclass
class Settings:
    """config/project.yaml's `promotion` gate settings."""

    tolerance: float = 0.01
    min_rows: int = 100

    @classmethod
    def from_config(cls, promotion: dict[str, Any]) -> Settings:
        return cls(float(promotion["tolerance"]), int(promotion["min_rows"]))


def outcomes(model: TrainedModel, rows: pd.DataFrame) -> tuple[Outcomes, np.ndarray]:
    """The model's outcomes on raw labelled rows, prepared by its own schema; and which rows it could judge.

    A row whose label the model has no class for cannot be judged by it (regression judges all).
    """
    schema = model.schema
    features, _ = transform(rows, schema)
    X = features.to_numpy(dtype="float64")
    target = rows[schema.target]
    if schema.classes is None:
        truth = pd.to_numeric(target, errors="coerce").to_numpy(dtype="float64")
        known = ~np.isnan(truth)
        return Outcomes(schema.problem_type, truth, model.values(X)), known
    index = {name: i for i, name in enumerate(schema.classes)}
    labels = target.map(lambda v: class_label(v) if pd.notna(v) else None)
    known = labels.isin(index).to_numpy()
    truth = labels.map(index).fillna(-1).to_numpy(dtype=int)
    proba = predict_proba(model, X)
    predicted = model.decide(proba)
    score = proba[:, 1] if schema.problem_type == "binary_classification" else None
    return Outcomes(schema.problem_type, truth, predicted, score, list(schema.classes)), known


def paired_bootstrap(
    first: Outcomes, second: Outcomes, rounds: int = ROUNDS, seed: int = 0, most: int = BOOTSTRAP_ROWS
) -> dict[str, np.ndarray]:
    """Each metric's difference (first - second) on `rounds` resamples, the same rows for both models.

    On more than `most` rows the resamples are drawn from `most` rows picked at random, and the
    draws are rescaled by sqrt(most/n) around the whole set's difference: the interval of the
    whole set, at a fraction of the cost (a gate on a million validation rows would otherwise
    take minutes).
    """
    rng = np.random.default_rng(seed)
    n = total = len(first)
    whole = None
    if n > most:
        whole = {name: value - metric_values(second)[name] for name, value in metric_values(first).items()}
        picked = np.sort(rng.choice(n, most, replace=False))
        first, second, n = first.take(picked), second.take(picked), most
    # Each resample as row counts: no row is copied, and AUC sorts each model's scores once.
    groups = [tie_groups(o.score) if o.score is not None else None for o in (first, second)]
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        a, b = metric_values(first, counts, groups[0]), metric_values(second, counts, groups[1])
        for name in a:
            draws.setdefault(name, []).append(a[name] - b[name])
    result = {name: np.asarray(values) for name, values in draws.items()}
    if whole is None:
        return result
    scale = np.sqrt(most / total)
    return {name: whole[name] + (values - np.nanmean(values)) * scale for name, values in result.items()}


def interval(draws: np.ndarray) -> list[float] | None:
    finite = draws[np.isfinite(draws)]
    if len(finite) < 2:
        return None
    low, high = (1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100
    return [float(np.percentile(finite, low)), float(np.percentile(finite, high))]


def compare_on(rows: pd.DataFrame, challenger: TrainedModel, champion: TrainedModel | None) -> dict[str, Any]:
    """Both models on one set of rows: every metric side by side, the difference and its interval."""
    mine, known = outcomes(challenger, rows)
    theirs = None
    if champion is not None:
        theirs, their_known = outcomes(champion, rows)
        known = known & their_known
    judged = np.flatnonzero(known)
    result: dict[str, Any] = {"rows": len(judged), "rows_not_judged": int(len(rows) - len(judged)), "metrics": {}}
    if not len(judged):
        return result
    mine = mine.take(judged)
    values = metric_values(mine)
    result["best_constant"] = _finite(best_constant(mine))
    higher = METRICS[mine.problem_type]
    if theirs is None:
        result["metrics"] = {
            name: {"challenger": _number(v), "higher_is_better": higher[name]} for name, v in values.items()
        }
        return result
    theirs = theirs.take(judged)
    other = metric_values(theirs)
    spread = paired_bootstrap(mine, theirs)
    for name, value in values.items():
        result["metrics"][name] = {
            "challenger": _number(value),
            "champion": _number(other[name]),
            "difference": _number(value - other[name]),
            "interval": interval(spread[name]),
            "higher_is_better": higher[name],
        }
    return result


def judge(
    challenger: TrainedModel,
    champion: TrainedModel | None,
    champion_version: str,
    sets: dict[str, pd.DataFrame],
    settings: Settings,
    same_model: bool = False,
) -> dict[str, Any]:
    """The gate's whole record: both models on every set of raw labelled rows, and the decision.

    A champion that cannot prepare the rows (trained on other columns) leaves the verdict to a
    person; the same model as the champion (`same_model`, by identity) is not compared at all.
    """
    target = challenger.schema.target
    compared = None if same_model else champion
    record: dict[str, Any] = {"champion_error": ""}
    results = {}
    for name, rows in sets.items():
        if not len(rows) or target not in rows:
            results[name] = {"rows": 0, "metrics": {}}
            continue
        try:
            results[name] = compare_on(rows, challenger, compared)
        except ValueError as exc:  # the champion cannot prepare these rows (another schema)
            if compared is None:
                raise ValueError(f"The challenger cannot score its {name} rows: {exc}") from exc
            record["champion_error"] = f"on the {name} rows: {exc}"
            results[name] = compare_on(rows, challenger, None)
    problem_type = challenger.schema.problem_type
    if same_model:
        decision = Decision(False, f"the same model as champion v{champion_version}: nothing to promote", "")
    elif record["champion_error"]:
        reason = (
            f"champion v{champion_version} cannot score the rows ({record['champion_error']}); compare them by hand"
        )
        decision = Decision(False, reason, "")
    else:
        decision = decide(problem_type, results, settings, champion_version)
    return record | {
        "passed": decision.passed,
        "reason": decision.reason,
        "deciding": decision.deciding,
        "problem_type": problem_type,
        "primary_metric": PRIMARY[problem_type],
        "champion_version": champion_version,
        "tolerance": settings.tolerance,
        "min_rows": settings.min_rows,
        "sets": results,
    }


@dataclass
class Decision:
    passed: bool
    reason: str
    deciding: str  # the set that decided


def decide(problem_type: str, sets: dict[str, dict[str, Any]], settings: Settings, champion: str) -> Decision:
    """Pass or not, and why in numbers (see the module's docstring). `champion` is its version, "" if none."""
    primary = PRIMARY[problem_type]
    deciding = "recent" if sets.get("recent", {}).get("rows", 0) >= settings.min_rows else "validation"
    chosen = sets.get(deciding, {})
    entry = chosen.get("metrics", {}).get(primary)
    if not entry or entry.get("challenger") is None:
        return Decision(
            False, f"{primary} could not be computed on the {deciding} rows ({chosen.get('rows', 0)})", deciding
        )
    where = f"{chosen['rows']} {deciding} rows"
    higher = entry["higher_is_better"]
    constant = chosen["best_constant"].get(primary)
    value = entry["challenger"]
    if constant is not None and not (value > constant if higher else value < constant):
        return Decision(
            False,
            f"{primary} {value:.4f} does not beat the best constant predictor's {constant:.4f} on {where}",
            deciding,
        )
    if not champion:
        return Decision(
            True,
            f"first model: {primary} {value:.4f} beats the best constant predictor's {constant:.4f} on {where}",
            deciding,
        )
    low, high = _improvement(entry)
    if low is None or low <= 0:
        # The whole interval below zero: worse beyond noise. Straddling it: a tie. Either way the champion stays.
        verdict = "the champion is better beyond noise" if high is not None and high < 0 else "a tie keeps the champion"
        return Decision(
            False, f"not better than champion v{champion} on {where}: {_shown(primary, entry)}; {verdict}", deciding
        )
    for name in SETS:  # the other set may veto: worse beyond the tolerance, beyond its noise
        other = sets.get(name, {})
        if name == deciding or other.get("rows", 0) < settings.min_rows:
            continue
        compared = other["metrics"].get(primary, {})
        high = _improvement(compared)[1]
        if high is not None and high < -settings.tolerance:
            return Decision(
                False,
                f"better on {where}, but worse than champion v{champion} on {other['rows']} {name} rows beyond the "
                f"tolerance {settings.tolerance}: {_shown(primary, compared)}",
                deciding,
            )
    return Decision(True, f"better than champion v{champion} on {where}: {_shown(primary, entry)}", deciding)


def _improvement(entry: dict[str, Any]) -> tuple[float | None, float | None]:
    """The interval of the challenger's improvement: the difference, turned where smaller is better."""
    bounds = entry.get("interval")
    if not bounds:
        return None, None
    low, high = bounds
    return (low, high) if entry["higher_is_better"] else (-high, -low)


def _shown(metric: str, entry: dict[str, Any]) -> str:
    low, high = entry["interval"] or [float("nan"), float("nan")]
    return (
        f"{metric} {entry['challenger']:.4f} against {entry['champion']:.4f}, difference {entry['difference']:+.4f} "
        f"(95% interval {low:+.4f} to {high:+.4f})"
    )


def _number(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {name: _number(value) for name, value in values.items()}


def model_identity(archive: Path) -> str:
    """What makes two models the same model: every file of model.tar.gz but the reports, and the
    schema without the day it was learned. Two trainings on the same data give the same identity."""
    digest = hashlib.sha256()
    with tarfile.open(archive) as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            if member.name.endswith(".html"):
                continue
            content = tar.extractfile(member).read()
            if Path(member.name).name == "schema.json":
                schema = json.loads(content)
                schema.pop("learned_at", None)
                content = json.dumps(schema, sort_keys=True).encode()
            digest.update(f"{member.name}\n{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps of a gate: the verdict, and the primary metric on the set that decided."""
    primary, deciding = record["primary_metric"], record["deciding"]
    chosen = record["sets"].get(deciding, {})
    entry = chosen.get("metrics", {}).get(primary, {})
    return {
        "passed": record["passed"],
        "reason": record["reason"],
        "champion_version": record["champion_version"],
        "metric": primary,
        "set": deciding,
        "rows": chosen.get("rows", 0),
        **{key: entry.get(key) for key in ("challenger", "champion", "difference", "interval")},
    }
