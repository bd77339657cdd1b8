"""A linear model: logistic regression for classes, ridge regression for values.

It wants one-hot categories and imputed, scaled numbers ("one_hot" preparation): an ordinal
code would make it read the frequency order of categories as a quantity. Its explanations are
exact linear SHAP: each prepared column's coefficient times its distance from the training
mean, with one-hot columns summed back to their feature.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from . import Estimator, Hyperparameter


class Linear(Estimator):
    name = "linear"
    preparation = "one_hot"
    explanation = "linear"
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        # The inverse regularisation strength of the logistic model; ridge uses alpha = 1 / C.
        "C": Hyperparameter(float, {"type": "continuous", "min": 0.001, "max": 100.0, "scaling": "Logarithmic"}),
        "max_iter": Hyperparameter(int),
        "tol": Hyperparameter(float),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        strength = float(params.get("C", 1.0))
        if strength <= 0:
            raise ValueError("hyperparameter 'C' must be positive")
        if problem_type == "regression":
            return Ridge(alpha=1.0 / strength, **({"tol": params["tol"]} if "tol" in params else {}))
        return LogisticRegression(**{"max_iter": 1000, **params})

    def linear_terms(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        coefficients = np.atleast_2d(np.asarray(model.coef_, dtype=float))
        return coefficients, np.atleast_1d(np.asarray(model.intercept_, dtype=float))


ESTIMATOR = Linear()
