"""An example of a team's own estimator: a scikit-learn Pipeline, used through the estimator contract.

Name it in config/project.yaml as `algorithm.estimator: custom_estimators.extra_trees_pipeline`.
The Pipeline imputes missing values itself, then fits extremely randomised trees. A Pipeline is
no plain tree model, so it is explained model-agnostically: permutation SHAP over a sample of
the training rows, with its additivity measured and written in analysis.json.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..components.algorithm.estimators import Estimator, Hyperparameter, parse_optional_int


class ExtraTreesPipeline(Estimator):
    name = "extra_trees_pipeline"
    preparation = "native"  # processing's codes and NaN; the Pipeline imputes
    explanation = "model_agnostic"
    # What skops may rebuild beyond its defaults: the imputer's dtype and the trees' structure.
    trusted_types = ("numpy.dtype", "sklearn.tree._tree.Tree")
    hyperparameters: ClassVar[dict[str, Hyperparameter]] = {
        "n_estimators": Hyperparameter(int, {"type": "integer", "min": 50, "max": 400}),
        "max_depth": Hyperparameter(parse_optional_int, {"type": "integer", "min": 4, "max": 20}),
        "min_samples_leaf": Hyperparameter(int, {"type": "integer", "min": 1, "max": 20}),
        "random_state": Hyperparameter(int),
    }

    def build(self, problem_type: str, params: dict[str, Any]) -> Any:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        trees = ExtraTreesRegressor if problem_type == "regression" else ExtraTreesClassifier
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("trees", trees(**params))])


ESTIMATOR = ExtraTreesPipeline()
