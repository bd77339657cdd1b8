"""scikit-learn's HistGradientBoosting: the default. Missing values natively; categories as their codes.

Categories are split as numbers (ordinal codes, most frequent first): shap's TreeSHAP mis-reads
HistGradientBoosting's native categorical splits, and explanations must add up exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import Estimator, Hyperparameter, parse_bool, parse_optional_int


def _bool_or_auto(text: str) -> bool | str:
    return "auto" if text.strip().lower() == "auto" else parse_bool(text)


class HistGradientBoosting(Estimator):
    name = "hist_gradient_boosting"
    preparation = "native"
    explanation = "tree"
    trusted_types = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        "learning_rate": Hyperparameter(
            float, {"type": "continuous", "min": 0.02, "max": 0.3, "scaling": "Logarithmic"}
        ),
        "max_iter": Hyperparameter(int),
        "max_leaf_nodes": Hyperparameter(parse_optional_int, {"type": "integer", "min": 8, "max": 64}),
        "max_depth": Hyperparameter(parse_optional_int),
        "min_samples_leaf": Hyperparameter(int, {"type": "integer", "min": 5, "max": 60}),
        "l2_regularization": Hyperparameter(float),
        "max_bins": Hyperparameter(int),
        "early_stopping": Hyperparameter(_bool_or_auto),
        "validation_fraction": Hyperparameter(float),
        "n_iter_no_change": Hyperparameter(int),
        "random_state": Hyperparameter(int),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        kind = HistGradientBoostingRegressor if problem_type == "regression" else HistGradientBoostingClassifier
        return kind(**{"categorical_features": None, **params})


ESTIMATOR = HistGradientBoosting()
