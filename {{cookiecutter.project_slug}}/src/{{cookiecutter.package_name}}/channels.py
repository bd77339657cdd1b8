"""The components, their modes, and the channels each mode reads and writes: one home for each name.

A Processing job's channel is a folder, `/opt/ml/processing/input/<name>` or
`/opt/ml/processing/output/<name>`; a Training job's is `/opt/ml/input/data/<name>`. The three
sides that must agree on them all read this table:
- the pipelines build each component step from it (`pipelines/steps.component_step` refuses
  channels it does not declare);
- the entrypoints read and write by it (`container.run_entrypoint` refuses a mode it does not
  declare, and `processing_input`/`processing_output` a channel the running mode does not);
- local mode reads the steps' outputs by it.

The job type of a mode decides where SageMaker reads a failure's reason (container.REASON_FILES).
"""

from __future__ import annotations

from dataclasses import dataclass

# The components: each is one image, and its folder under components/.
PROCESSING, ALGORITHM, MONITORING, EXPLAINABILITY = "processing", "algorithm", "monitoring", "explainability"
COMPONENTS = (PROCESSING, ALGORITHM, MONITORING, EXPLAINABILITY)

# The SageMaker job a mode runs as.
PROCESSING_JOB, TRAINING_JOB, TRANSFORM_JOB = "Processing", "Training", "Transform"

# Channels.
RAW = "raw"  # rows as they arrive: training data, or a production batch
TRAIN, VALIDATION = "train", "validation"  # the processed split the model learns and is validated on
ARTIFACTS = "artifacts"  # the fitted preprocessing (schema.json): what serve mode applies
EVALUATION = "evaluation"  # the raw validation rows, for the gate
PROCESSED, KEPT = "processed", "kept"  # a batch as the model reads it, and as it arrived (for retraining)
BASE, INPUTS, LABELS = "base", "inputs", "labels"  # a retrain's base set, kept batches and late labels
SET, HOLDOUT, DATASET = "set", "holdout", "dataset"  # the assembled set, the gate's recent rows, its record
SNAPSHOT = "snapshot"  # the set under its content address
CHALLENGER, CHAMPION, RECENT = "challenger", "champion", "recent"  # the gate's two models and its recent rows
GATE = "gate"  # the gate's verdict (gate.json) and report
MODEL = "model"  # a model.tar.gz
BASELINE = "baseline"  # the data-quality baseline: statistics and constraints
DATA = "data"  # processed rows to explain
PREDICTIONS = "predictions"  # Batch Transform's output, or the kept predictions of past batches
ESTIMATE, SCORED = "estimate", "scored"  # the performance estimate, and the predictions kept with it
SUMMARY, SUMMARIES = "summary", "summaries"  # one shard's summary, and the merge's input of all of them
EXPLANATIONS = "explanations"  # every row's contributions
REPORT = "report"  # a report folder: the HTML and its JSON
QUALITY = "quality"  # model quality against late labels: metrics, constraints, verdict


@dataclass(frozen=True)
class Mode:
    """What one mode of a component reads and writes, and the job it runs as."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    job: str = PROCESSING_JOB


MODES: dict[str, dict[str, Mode]] = {
    PROCESSING: {
        "train": Mode(inputs=(RAW,), outputs=(TRAIN, VALIDATION, ARTIFACTS, EVALUATION)),
        "serve": Mode(inputs=(RAW, ARTIFACTS), outputs=(PROCESSED, KEPT)),
        "assemble": Mode(inputs=(BASE, INPUTS, LABELS), outputs=(SET, HOLDOUT, DATASET)),
        "snapshot": Mode(inputs=(SET,), outputs=(SNAPSHOT,)),
    },
    ALGORITHM: {
        # A Training job (or a tuning job's trial): its channels, and the model in /opt/ml/model.
        "train": Mode(inputs=(TRAIN, VALIDATION, ARTIFACTS), job=TRAINING_JOB),
        "serve": Mode(job=TRANSFORM_JOB),  # Batch Transform's model server
        "compare": Mode(inputs=(CHALLENGER, CHAMPION, RECENT, VALIDATION), outputs=(GATE,)),
    },
    MONITORING: {
        "train": Mode(inputs=(RAW,), outputs=(BASELINE,)),
        "serve": Mode(inputs=(RAW, BASELINE), outputs=(REPORT,)),
        "summarize": Mode(inputs=(RAW, BASELINE), outputs=(SUMMARY,)),
        "merge": Mode(inputs=(SUMMARIES, BASELINE), outputs=(REPORT,)),
        "estimate": Mode(inputs=(PREDICTIONS, MODEL), outputs=(ESTIMATE, SCORED)),
        "quality": Mode(inputs=(PREDICTIONS, LABELS, MODEL), outputs=(QUALITY,)),
    },
    EXPLAINABILITY: {
        "train": Mode(inputs=(MODEL, DATA, ARTIFACTS), outputs=(REPORT,)),
        "serve": Mode(inputs=(MODEL, DATA, ARTIFACTS), outputs=(REPORT,)),
        "explain": Mode(inputs=(MODEL, DATA, ARTIFACTS), outputs=(EXPLANATIONS, SUMMARY)),
        "merge": Mode(inputs=(SUMMARIES, ARTIFACTS), outputs=(REPORT,)),
    },
}


def mode(component: str, name: str) -> Mode:
    """The declared mode, or a ValueError naming what the table has."""
    modes = MODES.get(component)
    if modes is None:
        raise ValueError(f"{component!r} is not a component; the components are {', '.join(COMPONENTS)}.")
    if name not in modes:
        raise ValueError(f"{component} has no mode {name!r}; channels.MODES declares {', '.join(modes)}.")
    return modes[name]
