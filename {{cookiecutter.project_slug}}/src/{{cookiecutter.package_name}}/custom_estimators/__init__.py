"""A team's own estimators: one module each, named in config/project.yaml as `algorithm.estimator`.

`extra_trees_pipeline` is the worked example of docs/your-own-model.md.
"""
