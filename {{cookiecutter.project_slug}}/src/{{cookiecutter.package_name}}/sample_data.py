"""A deterministic, churn-like sample table, with production batches at growing drift stages.

Stage 0 is an undrifted fresh sample. Data-drift stages 1-5 shift numeric means, bring in a
payment method training never saw, and add missing values, more at each stage; the relation
from inputs to target stays (covariate shift), so a model's quality holds. Concept-drift
stages 1-3 do the opposite: the inputs are drawn exactly as at their data-drift stage, and the
relation to the target moves further from the one training saw at each stage, so quality
drops with no data drift at all. The generator is vectorised, so millions of rows take seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where a frame is built: the command line starts without pandas
    import pandas as pd

DRIFT_STAGES = range(0, 6)
CONCEPT_STAGES = range(0, 4)


def _choice(rng: np.random.Generator, values: list[str], weights: list[float], n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(np.asarray(values, dtype=object), size=n, p=p / p.sum())


def _with_missing(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    out = values.astype(object) if values.dtype == object else values.astype(float)
    out[rng.random(len(values)) < rate] = None if out.dtype == object else np.nan
    return out


def generate(
    n_rows: int,
    *,
    target_column: str = "churn",
    problem_type: str = "binary_classification",
    seed: int = 0,
    drift_stage: int = 0,
    concept_stage: int = 0,
) -> pd.DataFrame:
    """Rows of customers; the target depends on the features through a known risk score."""
    if drift_stage not in DRIFT_STAGES:
        raise ValueError(f"drift_stage must be in 0..5, got {drift_stage}")
    if concept_stage not in CONCEPT_STAGES:
        raise ValueError(f"concept_stage must be in 0..3, got {concept_stage}")
    if n_rows < 1:
        raise ValueError("n_rows must be at least 1")
    rng = np.random.default_rng([seed, drift_stage])
    s = drift_stage

    contract = _choice(
        rng, ["month-to-month", "one-year", "two-year"], [0.55 + 0.05 * s, 0.25, 0.20 - 0.03 * s], n_rows
    )
    payment_values = ["electronic-check", "mailed-check", "bank-transfer", "credit-card"]
    payment_weights = [0.35, 0.20, 0.22, 0.23]
    if s >= 2:
        payment_values.append("digital-wallet")
        payment_weights.append(0.08 * (s - 1))
    payment = _choice(rng, payment_values, payment_weights, n_rows)
    internet = _choice(rng, ["fiber", "dsl", "none"], [0.44, 0.34, 0.22], n_rows)
    region = _choice(rng, ["north", "south", "east", "west"], [0.3, 0.25, 0.25, 0.2], n_rows)
    paperless = _choice(rng, ["yes", "no"], [0.6, 0.4], n_rows)

    tenure = np.clip(rng.gamma(2.0, 14.0 * (1 - 0.08 * s), n_rows), 1, 72).round()
    monthly = np.clip(rng.normal(65 + 5 * s, 20, n_rows), 18, 150).round(2)
    total = (tenure * monthly * rng.normal(1.0, 0.05, n_rows)).round(2)
    support_calls = rng.poisson(1.5 + 0.35 * s, n_rows).astype(float)
    age = np.clip(rng.normal(45 - 1.5 * s, 13, n_rows), 18, 90).round()

    score = (
        -1.0
        + 0.9 * (contract == "month-to-month")
        - 0.8 * (contract == "two-year")
        - 0.035 * tenure
        + 0.02 * (monthly - 65)
        + 0.35 * support_calls
        + 0.45 * (internet == "fiber")
        + 0.35 * (payment == "electronic-check")
        - 0.01 * (age - 45)
    )
    # Concept drift: the risk score moves towards another one (the same inputs, other effects).
    moved = concept_stage / (len(CONCEPT_STAGES) - 1)
    if moved:
        other = (
            -0.6
            - 0.9 * (contract == "month-to-month")
            + 0.8 * (contract == "two-year")
            + 0.035 * (tenure - 20)
            - 0.35 * (support_calls - 1.5)
            + 0.6 * (internet == "dsl")
            + 0.03 * (age - 45)
        )
        score = (1 - moved) * score + moved * other
    noise = rng.logistic(0, 1, n_rows)
    if problem_type == "binary_classification":
        target = np.where(score + noise > 0, "yes", "no")
    elif problem_type == "multiclass_classification":
        target = np.select([score + noise < -1.0, score + noise < 1.0], ["low", "medium"], "high")
    else:
        value = monthly * (1 + 0.1 * support_calls) + 25 * (internet == "fiber")
        other = monthly * (1.3 - 0.1 * support_calls) + 25 * (internet == "dsl") + 0.5 * (age - 45)
        target = ((1 - moved) * value + moved * other + rng.normal(0, 5, n_rows)).round(2)

    import pandas as pd

    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": _with_missing(rng, total, 0.03),
            "support_calls": support_calls,
            "age": _with_missing(rng, age, 0.05 + 0.06 * s),
            "contract": contract,
            "payment_method": payment,
            "internet_service": _with_missing(rng, internet, 0.02 + 0.03 * s),
            "region": region,
            "paperless_billing": paperless,
            target_column: target,
        }
    )
