"""scikit-learn's random forest. Missing values natively (scikit-learn 1.4 and later); categories as codes.

Its trees average probabilities, so its explanations add up to each class's probability.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import Estimator, Hyperparameter, Output, parse_optional_int


def _max_features(text: str) -> float | str | None:
    cleaned = text.strip().lower()
    if cleaned in {"sqrt", "log2"}:
        return cleaned
    if cleaned in {"none", "null", ""}:
        return None
    value = float(cleaned)
    if not 0 < value <= 1:
        raise ValueError("expected sqrt, log2, none or a fraction in (0, 1]")
    return value


class RandomForest(Estimator):
    name = "random_forest"
    preparation = "native"
    explanation = "tree"
    trusted_types = ("sklearn.tree._tree.Tree",)
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        "n_estimators": Hyperparameter(int, {"type": "integer", "min": 100, "max": 500}),
        "max_depth": Hyperparameter(parse_optional_int, {"type": "integer", "min": 4, "max": 14}),
        "min_samples_leaf": Hyperparameter(int, {"type": "integer", "min": 5, "max": 60}),
        "max_features": Hyperparameter(_max_features),
        "random_state": Hyperparameter(int),
        "n_jobs": Hyperparameter(int),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kind = RandomForestRegressor if problem_type == "regression" else RandomForestClassifier
        return kind(**params)

    def explained_output(self, problem_type: str) -> Output:
        return "value" if problem_type == "regression" else "probability"


ESTIMATOR = RandomForest()
