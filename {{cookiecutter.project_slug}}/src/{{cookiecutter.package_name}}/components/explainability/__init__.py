"""Explainability: exact TreeSHAP attributions per original feature, in SageMaker Clarify's shape."""
