"""The training and batch-inference SageMaker Pipelines, built with the SageMaker Python SDK v3.

Their definition JSON is the one description of each graph: deploy upserts it and the local
executor runs it.
"""
