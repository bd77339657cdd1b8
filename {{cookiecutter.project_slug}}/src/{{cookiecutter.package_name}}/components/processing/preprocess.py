"""Fit and transform on DataFrames: the pure core of the processing component."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...data_schema import DataSchema, ProblemType, category_labels, class_label, learn_schema


@dataclass
class TransformReport:
    """What serve mode met that training never saw. Nothing here stops the job."""

    unseen_categories: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)


def fit(
    raw: pd.DataFrame,
    target: str,
    problem_type: ProblemType,
    *,
    id_columns: list[str] | None = None,
    max_categories: int = 50,
) -> tuple[DataSchema, pd.DataFrame]:
    """Learn the schema from training data; return it with the rows that have a target."""
    if target in raw.columns:
        if raw[target].notna().sum() == 0:
            raise ValueError(
                f"Target column '{target}' has no values in the training data: every row needs its label. "
                "Check that the file holds the labels, or data.target_column in config/project.yaml."
            )
        raw = raw[raw[target].notna()].reset_index(drop=True)
    schema = learn_schema(raw, target, problem_type, id_columns=id_columns, max_categories=max_categories)
    return schema, raw


def check_columns(data: pd.DataFrame, schema: DataSchema, learned_on: str = "") -> list[str]:
    """Raise on missing feature columns; return the extra columns that will be ignored."""
    missing = [name for name in schema.feature_names if name not in data.columns]
    if missing:
        when = f" learned on {schema.learned_at}" if schema.learned_at else ""
        raise ValueError(
            f"Column(s) {missing} missing from {learned_on or 'the data'} (expected by schema.json"
            f"{when}). Send every feature the model was trained on."
        )
    return [c for c in data.columns if c not in schema.feature_names and c != schema.target]


def transform(data: pd.DataFrame, schema: DataSchema) -> tuple[pd.DataFrame, TransformReport]:
    """Encode features exactly as learned: numeric as float, categorical as its learned code.

    Missing values stay missing (NaN). A category outside the learned set (unseen, or rarer
    than the max_categories most frequent) becomes missing too, and is counted in the report.
    """
    report = TransformReport(ignored_columns=check_columns(data, schema))
    encoded: dict[str, np.ndarray] = {}
    for feature in schema.features:
        column = data[feature.name]
        if feature.kind == "numeric":
            values = pd.to_numeric(column, errors="coerce")
            bad = int(values.isna().sum() - column.isna().sum())
            if bad:
                example = column[values.isna() & column.notna()].iloc[0]
                raise ValueError(
                    f"Column '{feature.name}' is numeric in schema.json, but {bad} value(s) are not "
                    f"numbers (for example {example!r}). Fix the data or retrain on it."
                )
            encoded[feature.name] = values.to_numpy(dtype="float64")
        else:
            labels = category_labels(column)
            codes = pd.Categorical(labels, categories=feature.categories).codes.astype("float64")
            codes[codes < 0] = np.nan
            unseen = int((labels.notna() & np.isnan(codes)).sum())
            if unseen:
                report.unseen_categories[feature.name] = unseen
            encoded[feature.name] = codes
    return pd.DataFrame(encoded, index=data.index), report


def encode_target(target: pd.Series, schema: DataSchema) -> pd.Series:
    """Classes become their index in schema.classes; regression targets stay numbers."""
    if schema.classes is None:
        return pd.to_numeric(target, errors="raise").astype("float64")
    index = {label: i for i, label in enumerate(schema.classes)}
    labels = target.map(class_label)
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"Target values {unknown[:5]} were not seen when the schema was learned.")
    return labels.map(index).astype("int64")


def split(
    data: pd.DataFrame, schema: DataSchema, validation_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reproducible train/validation split, stratified by class for classification."""
    rng = np.random.default_rng(seed)
    if schema.classes is None:
        groups = [np.arange(len(data))]
    else:
        labels = data[schema.target].map(class_label).to_numpy()
        groups = [np.flatnonzero(labels == c) for c in schema.classes]
    validation_rows: list[np.ndarray] = []
    for rows in groups:
        rows = rng.permutation(rows)
        n_validation = round(len(rows) * validation_fraction)
        if len(rows) >= 2:
            n_validation = min(max(n_validation, 1), len(rows) - 1)
        validation_rows.append(rows[:n_validation])
    is_validation = np.zeros(len(data), dtype=bool)
    is_validation[np.concatenate(validation_rows)] = True
    train, validation = data[~is_validation], data[is_validation]
    if len(train) == 0 or len(validation) == 0:
        raise ValueError(f"{len(data)} labelled row(s) are too few to split into train and validation.")
    return train.reset_index(drop=True), validation.reset_index(drop=True)


def to_training_matrix(data: pd.DataFrame, schema: DataSchema) -> pd.DataFrame:
    """Target first, then the encoded features: the layout the algorithm's train mode reads."""
    features, _ = transform(data, schema)
    return pd.concat([encode_target(data[schema.target], schema).rename(schema.target), features], axis=1)
