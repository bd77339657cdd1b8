"""The estimator contract: what the algorithm, the explanations and monitoring need from a model.

An estimator is a subclass of `Estimator` in one module, named by `algorithm.estimator` in
config/project.yaml: a built-in's name (`BUILT_IN`), or a module of this package, such as
`estimators_own.my_model` for `src/<package>/estimators_own/my_model.py`, whose `ESTIMATOR` is
the instance to use. It states:
- how it fits and predicts (`build`, `fit`, `predict`, `predict_proba`, `classes`);
- how it saves and loads (`save`, `load`): without pickle, and only the files it names;
- its typed hyperparameters and their default tuning ranges (`hyperparameters`);
- how it wants features prepared (`preparation`): "native" (numbers with missing values as NaN,
  categories as their learned codes) or "one_hot" (categories one-hot, numbers imputed and
  scaled). Processing learns the preparation in train mode; the same function applies it
  whenever a model sees rows (processing.preprocess.prepare);
- how it is explained (`explanation`): "tree" (exact TreeSHAP, or the library's own exact
  contributions through `contributions`), "linear" (exact, from `linear_terms`) or
  "model_agnostic" (sampled permutation SHAP); and in which output (`explained_output`).

`tests/test_estimators.py` is the conformance suite every estimator passes (`make
check-estimator`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

Preparation = Literal["native", "one_hot"]
ExplanationKind = Literal["tree", "linear", "model_agnostic"]
# What an explanation adds up to: a classifier's log-odds (binary) or raw class scores (softmax
# multiclass), a class's probability, or a regressor's prediction.
Output = Literal["log_odds", "probability", "value"]

BUILT_IN = {
    "hist_gradient_boosting": "hist_gradient_boosting",
    "random_forest": "random_forest",
    "linear": "linear",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}
DEFAULT = "hist_gradient_boosting"


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError("expected true or false")


def parse_optional_int(text: str) -> int | None:
    return None if text.strip().lower() in {"none", "null", ""} else int(text)


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: how its string (as SageMaker passes it) becomes a value, and its default range.

    `tuning` is a range in config's shape (`algorithm.tuning.ranges`): {"type": "continuous",
    "min": 0.01, "max": 0.3, "scaling": "Logarithmic"}, {"type": "integer", ...} or
    {"type": "categorical", "values": [...]}.
    """

    parse: Callable[[str], Any]
    tuning: dict[str, Any] | None = None


class Estimator:
    """The contract. Subclass it, set the class attributes, and implement `build`; override the rest where
    the scikit-learn defaults do not fit your library."""

    name: ClassVar[str]
    preparation: ClassVar[Preparation] = "native"
    explanation: ClassVar[ExplanationKind] = "model_agnostic"
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {}
    # The model file save writes, and the non-default types skops may rebuild from it.
    model_file: ClassVar[str] = "model.skops"
    trusted_types: ClassVar[tuple[str, ...]] = ()

    # Fitting and predicting. X is the prepared matrix (float64), y class indices or values.
    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def fit(self, model: Any, X: np.ndarray, y: np.ndarray) -> Any:
        model.fit(X, y)
        return model

    def predict(self, model: Any, X: np.ndarray) -> np.ndarray:
        """A regressor's predictions."""
        return np.asarray(model.predict(X), dtype=float)

    def predict_proba(self, model: Any, X: np.ndarray) -> np.ndarray:
        """A classifier's probabilities, one column per class in `classes(model)`."""
        return np.asarray(model.predict_proba(X), dtype=float)

    def classes(self, model: Any) -> np.ndarray:
        """The class indices (into schema.classes) the model learned, in its probability columns' order."""
        return np.asarray(model.classes_).astype(int)

    # Saving and loading: no pickle. scikit-learn models go through skops with an explicit trust list.
    def save(self, model: Any, directory: Path) -> None:
        import skops.io

        (directory / self.model_file).write_bytes(canonical_skops(skops.io.dumps(model)))

    def load(self, directory: Path) -> Any:
        import skops.io

        path = directory / self.model_file
        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(self.trusted_types)
        if untrusted:
            raise ValueError(
                f"{path} holds types the {self.name} estimator does not trust ({sorted(untrusted)}); "
                "it was not loaded. A model file holds only what its estimator's `trusted_types` names."
            )
        return skops.io.load(path, trusted=list(self.trusted_types))

    # Explaining.
    def explained_output(self, problem_type: str) -> Output:
        """What this estimator's explanations add up to for `problem_type`."""
        if problem_type == "regression":
            return "value"
        return "probability" if self.explanation == "model_agnostic" else "log_odds"

    def contributions(self, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact contributions from the library itself, if it has them: (values[rows, columns, outputs],
        expected[outputs]) in `explained_output`; None to use shap's TreeExplainer."""
        return None

    def linear_terms(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        """A linear model's (coefficients[outputs, columns], intercepts[outputs]) in `explained_output`."""
        raise NotImplementedError


# skops names each object by its id() in memory, and stamps each entry with the time it was written.
REFERENCE = re.compile(r'("__id__": ?)(\d+)|("file": ?")(\d+)(\.npy")')


def canonical_skops(data: bytes) -> bytes:
    """A skops file whose bytes depend only on the model: ids renumbered in order, entries sorted and undated.

    The same model then saves to the same bytes in any process, so its digest names the model:
    an image and a venv write the same file, and a retrain that learns the same model is seen to.
    """
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = source.read("schema.json").decode("utf-8")
        ids: dict[str, str] = {}
        for match in REFERENCE.finditer(schema):
            ids.setdefault(match.group(2) or match.group(4), str(len(ids)))

        def renumber(match: re.Match) -> str:
            if match.group(2):
                return match.group(1) + ids[match.group(2)]
            return match.group(3) + ids[match.group(4)] + match.group(5)

        entries = {"schema.json": REFERENCE.sub(renumber, schema).encode("utf-8")}
        for info in source.infolist():
            if info.filename != "schema.json":
                stem, _, suffix = info.filename.rpartition(".")
                entries[f"{ids.get(stem, stem)}.{suffix}"] = source.read(info)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in sorted(entries):
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type, entry.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            target.writestr(entry, entries[name])
    return out.getvalue()


# A team's own estimator: a dotted module path inside this package.
MODULE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def resolve(name: str) -> Estimator:
    """The estimator `algorithm.estimator` names, or a ValueError that says what can be named."""
    package = __package__.split(".components.")[0]
    if name in BUILT_IN:
        module_name = f"{__package__}.{BUILT_IN[name]}"
    elif MODULE_PATH.fullmatch(name):
        module_name = f"{package}.{name}"
    else:
        raise ValueError(
            f"algorithm.estimator is {name!r}: name a built-in ({', '.join(BUILT_IN)}) or a module of this "
            "package that defines ESTIMATOR, such as estimators_own.my_model."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        library = exc.name or ""
        if library.startswith(package):
            raise ValueError(f"algorithm.estimator names {name!r}, but {module_name} does not exist.") from exc
        raise ValueError(
            f"The {name} estimator needs the {library!r} library, which this repository's images and venv do not "
            "install. Add it to pyproject.toml's dependencies and run `make lock` (docs/your-own-model.md)."
        ) from exc
    estimator = getattr(module, "ESTIMATOR", None)
    if not isinstance(estimator, Estimator):
        raise ValueError(f"{module_name} must define ESTIMATOR, an instance of an Estimator subclass.")
    return estimator


def parse_hyperparameters(estimator: Estimator, raw: dict[str, str]) -> dict[str, Any]:
    """SageMaker's string hyperparameters as typed arguments; an error names every bad key.

    Keys SageMaker adds itself (`sagemaker_*`, `_tuning_objective_metric`) are ignored.
    """
    parsed: dict[str, Any] = {}
    errors = []
    known = estimator.hyperparameters
    for key, value in raw.items():
        if key.startswith(("sagemaker_", "_")):
            continue
        if key not in known:
            errors.append(
                f"unknown hyperparameter '{key}' for the {estimator.name} estimator (known: {', '.join(sorted(known))})"
            )
            continue
        try:
            parsed[key] = known[key].parse(value)
        except ValueError as exc:
            errors.append(f"hyperparameter '{key}'={value!r} is invalid: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return parsed


def default_ranges(estimator: Estimator) -> dict[str, dict[str, Any]]:
    """The estimator's default tuning ranges, in config's shape."""
    return {name: dict(h.tuning) for name, h in estimator.hyperparameters.items() if h.tuning}


def check_ranges(estimator: Estimator, ranges: dict[str, dict[str, Any]]) -> None:
    """Tuning ranges must name the estimator's hyperparameters, and each bound must parse as one."""
    errors = []
    for name, spec in ranges.items():
        if name not in estimator.hyperparameters:
            errors.append(f"tuning range '{name}' is no hyperparameter of the {estimator.name} estimator")
            continue
        parse = estimator.hyperparameters[name].parse
        values = spec.get("values", []) if spec["type"] == "categorical" else [spec["min"], spec["max"]]
        for value in values:
            try:
                text = str(int(value)) if spec["type"] == "integer" else str(value)
                parse(text)
            except ValueError as exc:
                errors.append(f"tuning range '{name}': {value!r} is invalid: {exc}")
        if spec["type"] != "categorical" and spec["min"] >= spec["max"]:
            errors.append(f"tuning range '{name}': min {spec['min']} must be below max {spec['max']}")
    if errors:
        raise ValueError("; ".join(errors))
