"""schema.json: what processing learned about the data in train mode.

It is both the data description (features, kinds, classes) and the fitted state of the
preprocessing (the category order that defines each categorical code). Serve mode reads it
and re-learns nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

# The first column of processed production rows and of published predictions; labels name it.
ID_COLUMN = "inference_id"

ProblemType = Literal["binary_classification", "multiclass_classification", "regression"]
SCHEMA_VERSION = 1


@dataclass
class Feature:
    """One input column: numeric (kept as float) or categorical (encoded by category order)."""

    name: str
    kind: Literal["numeric", "categorical"]
    inferred_type: Literal["Integral", "Fractional", "String"]
    missing_fraction: float
    categories: list[str] = field(default_factory=list)
    # A numeric feature's "one_hot" preparation (processing.preprocess.prepare), learned on the
    # train split: the value a missing one takes, and the centre and scale it is standardised by.
    fill: float | None = None
    center: float | None = None
    scale: float | None = None


@dataclass
class DataSchema:
    """The learned description of a training table."""

    target: str
    problem_type: ProblemType
    features: list[Feature]
    classes: list[str] | None
    n_rows: int
    learned_at: str
    version: int = SCHEMA_VERSION
    # What a person should know about the training data: constant and identifier-like columns.
    warnings: list[str] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_mask(self) -> list[bool]:
        return [f.kind == "categorical" for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSchema:
        features = [Feature(**f) for f in data["features"]]
        return cls(**{**data, "features": features})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path) -> DataSchema:
        if not path.is_file():
            raise FileNotFoundError(f"schema.json not found at {path}")
        return cls.from_dict(json.loads(path.read_text("utf-8")))


def is_numeric_column(series: pd.Series) -> bool:
    """Numbers (and booleans stored as numbers) are numeric; everything else is categorical."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def finite_numbers(series: pd.Series) -> pd.Series:
    """A column as float64, with `inf`, `-inf` and text that is no number as missing (NaN).

    The one treatment of infinities everywhere: a value that no histogram, mean or tree split
    can use is a missing value, counted as such, never a number.
    """
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.mask(np.isinf(values))


def category_labels(series: pd.Series) -> pd.Series:
    """Categories as strings, missing kept missing, so codes do not depend on dtype."""
    return series.astype("string").str.strip().replace("", pd.NA)


def learn_feature(series: pd.Series, max_categories: int) -> Feature:
    """Learn one feature's kind and, for categoricals, the ordered categories that define codes."""
    name = str(series.name)
    if is_numeric_column(series):
        series = finite_numbers(series)
    missing = float(series.isna().mean())
    if series.notna().sum() == 0:
        raise ValueError(
            f"Column '{name}' has no values at all in the training data (infinities count as missing); "
            "drop it or list it in data.id_columns of config/project.yaml."
        )
    if is_numeric_column(series):
        present = series.dropna()
        integral = bool((present == present.round()).all())
        return Feature(name, "numeric", "Integral" if integral else "Fractional", missing)
    counts = category_labels(series).value_counts(dropna=True)
    # Most frequent first; ties broken by label so the order is deterministic.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return Feature(name, "categorical", "String", missing, [k for k, _ in ordered[:max_categories]])


def learn_classes(target: pd.Series, problem_type: ProblemType, positive_class: str | None = None) -> list[str] | None:
    """Class labels in a stable order; for binary, the second one is the positive class.

    The positive class is `positive_class` (config's data.positive_class) when it is given, and
    otherwise the label that sorts last (numbers by value, so 1 over 0).
    """
    if problem_type == "regression":
        if not is_numeric_column(target):
            raise ValueError(
                f"Target column '{target.name}' must be numeric for regression, but holds values "
                f"such as {target.dropna().astype(str).unique()[:3].tolist()}."
            )
        return None
    labels = sorted(target.dropna().map(class_label).unique(), key=_natural_key)
    if problem_type == "binary_classification" and len(labels) != 2:
        raise ValueError(
            f"problem_type is binary_classification, but target column '{target.name}' has "
            f"{len(labels)} classes {labels[:10]}. Bake with multiclass_classification, or fix the data."
        )
    if positive_class is not None and problem_type == "binary_classification":
        if positive_class not in labels:
            raise ValueError(
                f"data.positive_class is {positive_class!r}, but target column '{target.name}' holds the classes "
                f"{labels}. Set data.positive_class in config/project.yaml to one of them."
            )
        labels = [label for label in labels if label != positive_class] + [positive_class]
    if problem_type == "multiclass_classification" and len(labels) < 3:
        raise ValueError(
            f"problem_type is multiclass_classification, but target column '{target.name}' has only "
            f"{len(labels)} classes {labels}. Use binary_classification for two classes."
        )
    return labels


def class_label(value: Any) -> str:
    """A class as text: 1.0 and 1 are the same class '1'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _natural_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def learn_schema(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType,
    *,
    id_columns: list[str] | None = None,
    max_categories: int = 50,
    positive_class: str | None = None,
) -> DataSchema:
    """Learn the schema of a training table that contains the target column."""
    if target not in data.columns:
        near = [str(c) for c in data.columns if str(c).strip().lower() == target.strip().lower()]
        hint = (
            f" The header has {near[0]!r}: the same name but for spaces or case; write it exactly, in the data "
            "or in data.target_column of config/project.yaml."
            if near
            else " Check data.target_column in config/project.yaml."
        )
        raise ValueError(
            f"Target column '{target}' is missing from the training data (columns: {list(data.columns)[:20]}).{hint}"
        )
    # inference_id names a production row (retraining data carries it): never a feature.
    ignored = set(id_columns or []) | {target, ID_COLUMN}
    feature_columns = [c for c in data.columns if c not in ignored]
    if not feature_columns:
        raise ValueError("The training data has no feature columns besides the target and id columns.")
    features = [learn_feature(data[c], max_categories) for c in feature_columns]
    return DataSchema(
        target=target,
        problem_type=problem_type,
        features=features,
        classes=learn_classes(data[target], problem_type, positive_class),
        n_rows=len(data),
        learned_at=datetime.now(UTC).strftime("%Y-%m-%d"),
        warnings=[w for c, f in zip(feature_columns, features, strict=True) if (w := column_warning(data[c], f))],
    )


# A text column with at least this share of distinct values (and this many rows) names rows, not a trait.
ID_LIKE_FRACTION = 0.9
ID_LIKE_MIN_ROWS = 20


def column_warning(series: pd.Series, feature: Feature) -> str:
    """Why a learned feature will not help the model, or ''. It stays a feature; the warning says what to do."""
    present = series.dropna()
    distinct = int(present.nunique())
    if distinct == 1:
        return (
            f"Column '{feature.name}' is constant in the training data ({present.iloc[0]!r}): the model cannot "
            "learn from it, and monitoring reports drift if production brings other values."
        )
    if (
        feature.kind == "categorical"
        and len(present) >= ID_LIKE_MIN_ROWS
        and distinct >= ID_LIKE_FRACTION * len(present)
    ):
        return (
            f"Column '{feature.name}' looks like an identifier ({distinct} distinct values in {len(present)} rows): "
            "at inference nearly every value is unseen and scored as missing. List it in data.id_columns of "
            "config/project.yaml to keep it out of the features."
        )
    return ""
