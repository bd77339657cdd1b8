"""The four SageMaker components: processing, algorithm, monitoring and explainability."""
