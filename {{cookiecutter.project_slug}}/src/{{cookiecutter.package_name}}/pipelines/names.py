"""The graph's names, each with one home: the pipelines build steps by them, and local mode's
summaries and the tests read the steps' properties by them."""

from __future__ import annotations

# The training pipeline.
TRAINING_DATA = "TrainingData"
DATASET_REPORT = "DatasetReport"  # TrainingData's property file
TRAINING_DATA_SNAPSHOT = "TrainingDataSnapshot"
PROCESSING = "Processing"  # in the training and the inference pipeline
TRAINING = "Training"
MONITORING_BASELINE = "MonitoringBaseline"
EXPLAINABILITY = "Explainability"  # in the training and the inference pipeline
GATE = "Gate"
GATE_REPORT = "GateReport"  # Gate's property file
REGISTER = "Register"

# The inference pipeline.
CREATE_MODEL = "CreateModel"
TRANSFORM = "Transform"
PERFORMANCE_ESTIMATE = "PerformanceEstimate"
MONITORING_SHARDS = "MonitoringShards"
MONITORING = "Monitoring"
EXPLAINABILITY_SHARDS = "ExplainabilityShards"
DRIFT_CHECK = "DriftCheck"
DRIFT_REPORT = "DriftReport"  # Monitoring's property file

# The model-quality pipeline.
MODEL_QUALITY = "ModelQuality"
QUALITY_CHECK = "QualityCheck"
QUALITY_REPORT = "QualityReport"  # ModelQuality's property file

# What a signal starts (the drift_action Lambda): Drift from the inference pipeline, Quality from
# the model-quality one.
DRIFT, QUALITY = "Drift", "Quality"


def action_step(action: str, signal: str) -> str:
    """RetrainOn<signal> for the retrain Lambda, AlertOn<signal> for the alert one."""
    return f"{'RetrainOn' if action == 'retrain' else 'AlertOn'}{signal}"


ACTION_STEPS = {signal: (action_step("retrain", signal), action_step("alert", signal)) for signal in (DRIFT, QUALITY)}
