"""The environment variables a pipeline step sets and its job reads: each name has its home here.

The pipelines set them in each step's Environment; the components read them. The artefact
digests a serve mode checks are registry/digests.py's DIGESTS_ENV.
"""

from __future__ import annotations

# processing
INPUT_DATA = "INPUT_DATA"  # the training data's URI, content-addressed (sha256=<digest>)
STEP_CACHING = "STEP_CACHING"  # "on" when the step's job may be reused: its input must be content-addressed
SCORED_AT = "SCORED_AT"  # the inference execution's start: every prediction's scoring time
INFERENCE_ID_PREFIX = "INFERENCE_ID_PREFIX"  # the execution's part of each generated inference id
ASSEMBLED_AT = "ASSEMBLED_AT"  # a retrain's start: the end of its labelled window
RETRAINING_WINDOW = "RETRAINING_WINDOW"  # how far back labelled production rows count (ISO 8601)
BASE_ROWS = "BASE_ROWS"  # keep or age out the base set's rows
SNAPSHOT_PREFIX = "SNAPSHOT_PREFIX"  # where training-data snapshots live, by digest
SNAPSHOT_URI = "SNAPSHOT_URI"  # the snapshot a retrain's set is written to

# algorithm
CHAMPION_VERSION = "CHAMPION_VERSION"  # the promoted manifest version the gate compares against

# monitoring: drift thresholds (pipeline parameters), the estimate's run and the quality window
DRIFT_SIGNIFICANCE_LEVEL = "DRIFT_SIGNIFICANCE_LEVEL"
DRIFT_COMPARISON_THRESHOLD = "DRIFT_COMPARISON_THRESHOLD"
DRIFT_CATEGORICAL_THRESHOLD = "DRIFT_CATEGORICAL_THRESHOLD"
DRIFT_COMPLETENESS_TOLERANCE = "DRIFT_COMPLETENESS_TOLERANCE"
RUN_ID = "RUN_ID"
EVALUATION_TIME = "EVALUATION_TIME"
QUALITY_START_OFFSET = "QUALITY_START_OFFSET"
QUALITY_END_OFFSET = "QUALITY_END_OFFSET"
QUALITY_MIN_LABELLED_ROWS = "QUALITY_MIN_LABELLED_ROWS"
