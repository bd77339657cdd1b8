"""Fit and transform on DataFrames: the pure core of the processing component."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...csv_output import NEEDS_QUOTING
from ...data_schema import (
    ID_COLUMN,
    DataSchema,
    ProblemType,
    category_labels,
    class_label,
    finite_numbers,
    learn_schema,
)


@dataclass
class TransformReport:
    """What serve mode met that training never saw. Nothing here stops the job."""

    unseen_categories: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    infinite_values: dict[str, int] = field(default_factory=dict)


def fit(
    raw: pd.DataFrame,
    target: str,
    problem_type: ProblemType,
    *,
    id_columns: list[str] | None = None,
    max_categories: int = 50,
    positive_class: str | None = None,
) -> tuple[DataSchema, pd.DataFrame]:
    """Learn the schema from training data; return it with the rows that have a target."""
    if target in raw.columns:
        if raw[target].notna().sum() == 0:
            raise ValueError(
                f"Target column '{target}' has no values in the training data: every row needs its label. "
                "Check that the file holds the labels, or data.target_column in config/project.yaml."
            )
        raw = raw[raw[target].notna()].reset_index(drop=True)
    schema = learn_schema(
        raw, target, problem_type, id_columns=id_columns, max_categories=max_categories, positive_class=positive_class
    )
    check_enough_rows(raw, schema)
    return schema, raw


# Enough labelled rows to split off a validation set, and for the model's own early-stopping split.
MIN_ROWS = 50
MIN_ROWS_PER_CLASS_COUNT = 20
MIN_ROWS_OF_A_CLASS = 3


def check_enough_rows(labelled: pd.DataFrame, schema: DataSchema) -> None:
    """Too little data is named here, in words, not later as an estimator's internal error."""
    needed = max(MIN_ROWS, MIN_ROWS_PER_CLASS_COUNT * len(schema.classes or []))
    if len(labelled) < needed:
        classes = len(schema.classes or [])
        per_class = f" ({MIN_ROWS_PER_CLASS_COUNT} per class for {classes} classes)" if classes else ""
        raise ValueError(
            f"The training data has {len(labelled)} labelled row(s); training and validation need at least "
            f"{needed}{per_class}. Add labelled rows."
        )
    if schema.classes:
        counts = labelled[schema.target].map(class_label).value_counts()
        rare = {c: int(counts.get(c, 0)) for c in schema.classes if counts.get(c, 0) < MIN_ROWS_OF_A_CLASS}
        if rare:
            raise ValueError(
                f"Class(es) {rare} of target column '{schema.target}' have fewer than {MIN_ROWS_OF_A_CLASS} rows; "
                "every class needs some rows in training and in validation. Add rows of those classes, or merge them."
            )


def check_columns(data: pd.DataFrame, schema: DataSchema, learned_on: str = "") -> list[str]:
    """Raise on missing feature columns; return the extra columns that will be ignored."""
    missing = [name for name in schema.feature_names if name not in data.columns]
    if missing:
        when = f" learned on {schema.learned_at}" if schema.learned_at else ""
        near = {str(c).strip().lower(): str(c) for c in data.columns}
        close = [near[m.strip().lower()] for m in missing if m.strip().lower() in near]
        unexpected = [
            str(c) for c in data.columns if c not in schema.feature_names and c not in (schema.target, ID_COLUMN)
        ]
        if close:
            hint = f" The header has {close[:5]}: the same name(s) but for spaces or case; write each name exactly."
        elif unexpected:
            hint = (
                f" The data has column(s) the model does not know: {unexpected[:10]}; if one of them is a "
                "renamed feature, give it its trained name."
            )
        else:
            hint = ""
        raise ValueError(
            f"Column(s) {missing} missing from {learned_on or 'the data'} (expected by schema.json"
            f"{when}). Send every feature the model was trained on.{hint}"
        )
    return [c for c in data.columns if c not in schema.feature_names and c != schema.target]


def transform(data: pd.DataFrame, schema: DataSchema) -> tuple[pd.DataFrame, TransformReport]:
    """Encode features exactly as learned: numeric as float, categorical as its learned code.

    Missing values stay missing (NaN). A category outside the learned set (unseen, or rarer
    than the max_categories most frequent) becomes missing too, and so does `inf` or `-inf`;
    both are counted in the report.
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
            finite = finite_numbers(values)
            infinite = int(finite.isna().sum() - values.isna().sum())
            if infinite:
                report.infinite_values[feature.name] = infinite
            encoded[feature.name] = finite.to_numpy(dtype="float64")
        else:
            labels = category_labels(column)
            codes = pd.Index(feature.categories, dtype="string").get_indexer(labels).astype("float64")
            codes[codes < 0] = np.nan
            unseen = int((labels.notna() & np.isnan(codes)).sum())
            if unseen:
                report.unseen_categories[feature.name] = unseen
            encoded[feature.name] = codes
    return pd.DataFrame(encoded, index=data.index), report


def learn_preparation(encoded: pd.DataFrame, schema: DataSchema) -> DataSchema:
    """The schema with each numeric feature's fill, centre and scale, learned on encoded train rows.

    A model that wants "one_hot" features (`prepare`) reads them; the others ignore them.
    """
    for feature in schema.features:
        if feature.kind != "numeric":
            continue
        values = encoded[feature.name].to_numpy(dtype="float64")
        present = values[~np.isnan(values)]
        fill = float(np.median(present)) if len(present) else 0.0
        filled = np.where(np.isnan(values), fill, values)
        spread = float(filled.std()) if len(filled) else 0.0
        feature.fill, feature.center, feature.scale = fill, float(filled.mean()), spread if spread > 0 else 1.0
    return schema


def prepared_columns(schema: DataSchema, preparation: str) -> list[tuple[str, int]]:
    """The columns `prepare` makes, each with the index of the feature it comes from."""
    if preparation == "native":
        return [(f.name, i) for i, f in enumerate(schema.features)]
    columns = []
    for i, feature in enumerate(schema.features):
        if feature.kind == "numeric":
            columns.append((feature.name, i))
        else:
            columns += [(f"{feature.name}={category}", i) for category in feature.categories]
    return columns


def prepare(X: np.ndarray, schema: DataSchema, preparation: str) -> np.ndarray:
    """Encoded rows (`transform`'s columns) as the model wants them, with what processing learned.

    "native": as they are, numbers with NaN for missing and categories as codes. "one_hot": each
    category its own 0/1 column (a missing or unseen one is all zeros), and each number with its
    missing values filled and standardised. Training and every later use apply this one function.
    """
    X = np.asarray(X, dtype="float64")
    if preparation == "native":
        return X
    if preparation != "one_hot":
        raise ValueError(f"Unknown preparation {preparation!r}: an estimator wants 'native' or 'one_hot'.")
    parts = []
    for i, feature in enumerate(schema.features):
        column = X[:, i]
        if feature.kind == "numeric":
            if feature.fill is None or feature.center is None or feature.scale is None:
                raise ValueError(
                    f"schema.json has no learned fill and scale for '{feature.name}': it was written before "
                    "one_hot preparation existed. Train again to learn them."
                )
            parts.append(((np.where(np.isnan(column), feature.fill, column) - feature.center) / feature.scale)[:, None])
        else:
            codes = np.arange(len(feature.categories))
            parts.append((column[:, None] == codes[None, :]).astype("float64"))
    return np.hstack(parts) if parts else np.empty((len(X), 0))


def encode_target(target: pd.Series, schema: DataSchema) -> pd.Series:
    """Classes become their index in schema.classes; regression targets stay numbers."""
    if schema.classes is None:
        values = pd.to_numeric(target, errors="raise").astype("float64")
        if np.isinf(values).any():
            raise ValueError(
                f"Target column '{schema.target}' holds {int(np.isinf(values).sum())} infinite value(s); a regression "
                "target must be a finite number. Fix or drop those rows."
            )
        return values
    index = {label: i for i, label in enumerate(schema.classes)}
    labels = target.map(class_label)
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"Target values {unknown[:5]} were not seen when the schema was learned.")
    return labels.map(index).astype("int64")


def row_keys(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Each row's place in [0, 1), from the row's own values and the seed.

    The split keeps a row on the side its key puts it, however the rest of the data changes,
    so a retrain on grown data validates on rows the serving model never trained on: the
    champion-challenger gate compares both on them. (pandas' hashing with a fixed key: a test
    pins its values, since a change would move rows between sides once.)
    """
    key = f"{seed % 10**16:016d}"
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=key, categorize=False).to_numpy()
    return (hashed >> np.uint64(11)).astype("float64") / float(2**53)


def split(
    data: pd.DataFrame,
    schema: DataSchema,
    validation_fraction: float,
    seed: int,
    keys: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reproducible train/validation split by each row's key (`row_keys`), stratified in expectation.

    A row is in validation when its key is below the fraction, so the same row always falls
    on the same side. Every class of two or more rows keeps at least one row on each side.
    `keys` are the rows' keys when they were computed file by file (processing train).
    """
    keys = row_keys(data, seed) if keys is None else np.asarray(keys)
    is_validation = keys < validation_fraction
    if schema.classes is None:
        groups = [np.arange(len(data))]
    else:
        labels = data[schema.target].map(class_label).to_numpy()
        groups = [np.flatnonzero(labels == c) for c in schema.classes]
    for rows in groups:
        if len(rows) < 2:
            continue
        if not is_validation[rows].any():
            is_validation[rows[np.argmin(keys[rows])]] = True
        if is_validation[rows].all():
            is_validation[rows[np.argmax(keys[rows])]] = False
    train, validation = data[~is_validation], data[is_validation]
    if len(train) == 0 or len(validation) == 0:
        raise ValueError(f"{len(data)} labelled row(s) are too few to split into train and validation.")
    return train.reset_index(drop=True), validation.reset_index(drop=True)


def to_training_matrix(data: pd.DataFrame, schema: DataSchema) -> pd.DataFrame:
    """Target first, then the encoded features: the layout the algorithm's train mode reads."""
    features, _ = transform(data, schema)
    return pd.concat([encode_target(data[schema.target], schema).rename(schema.target), features], axis=1)


def _unquoted(text: str) -> str:
    """`text` with each character the CSV writer would quote replaced by `_`."""
    return "".join("_" if ch in NEEDS_QUOTING else ch for ch in text)


def inference_ids(
    data: pd.DataFrame, id_columns: list[str], source: str, first_row: int, prefix: str = "run"
) -> pd.Series:
    """Each production row's inference id: the labels file names it, and the predictions carry it.

    With `data.id_columns`, the row's own ids (several joined by `|`): a row without one, or
    with a comma, a quote or a line break in it, is an error that names the row. Otherwise
    `<prefix>:<source>:<row>`, with the execution id as prefix, the file's path under the
    input as source and the row's number in that file (from 1): stable, and unique across runs.
    """
    if id_columns:
        missing = [c for c in id_columns if c not in data.columns]
        if missing:
            raise ValueError(f"data.id_columns names {missing}, which the production data does not have.")
        parts = data[id_columns].astype("string")
        empty = parts.isna().any(axis=1)
        if empty.any():
            row = first_row + int(np.flatnonzero(empty.to_numpy())[0])
            raise ValueError(
                f"Row {row} of {source} has no value in id column(s) {id_columns}; every row needs its id."
            )
        ids = parts.iloc[:, 0] if len(id_columns) == 1 else parts.agg("|".join, axis=1)
        unsafe = ids.map(lambda v: bool(NEEDS_QUOTING & set(v)))
        if unsafe.any():
            row = first_row + int(np.flatnonzero(unsafe.to_numpy())[0])
            raise ValueError(
                f"Row {row} of {source}: its id {ids[unsafe].iloc[0]!r} holds a comma, a quote or a line break; "
                "ids are written unquoted into the predictions, so they must not."
            )
        return ids.astype(object).reset_index(drop=True)
    stem = f"{_unquoted(prefix)}:{_unquoted(source)}"
    return pd.Series([f"{stem}:{row}" for row in range(first_row, first_row + len(data))], dtype=object)
