"""Running one job step as SageMaker runs its job: stage the inputs, run the component, publish the outputs.

Each method takes the step's resolved request (CreateProcessingJob's, CreateTrainingJob's, ...)
and returns the properties the step's Describe call would: job name, status, output URIs.
Inputs are copied from the workspace's `s3/` into the job's own OPT_ML_ROOT; outputs are
staged, then published by one rename, so a half-written output is never visible.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..channels import ALGORITHM
from ..pipelines.layout import component_of_image
from .packing import (
    pack_model,
)
from .runtimes import (
    Runtime,
    run_component,
)
from .transform import (
    RecordShaping,
    model_server,
    transform_file,
)
from .workspace import Workspace

OPT_ML = "/opt/ml/"
# A local multi-instance job runs its instances as concurrent processes on this machine.
MAX_LOCAL_INSTANCES = 16


class StepFailed(RuntimeError):
    """A step failed; the message is its failure reason."""


class JobRunner:
    """The jobs of one workspace, run with one runtime (this venv, or the component images)."""

    def __init__(self, workspace: Workspace, runtime: Runtime, progress: Callable[[str], None] = print) -> None:
        self.workspace = workspace
        self.runtime = runtime
        self.progress = progress

    def stage(self, uri: str, root: Path, local_path: str, what: str, share: tuple[int, int] = (0, 1)) -> None:
        """Download an input; `share` (i, n) gives instance i its ShardedByS3Key share of the objects."""
        source = self.workspace.path(uri)
        destination = root / local_path.removeprefix(OPT_ML)
        if not source.exists():
            raise StepFailed(f"{what}: {uri} does not exist (local: {source})")
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            if share[0] == 0:
                shutil.copy2(source, destination / source.name)
            return
        index, count = share
        objects = sorted(p for p in source.rglob("*") if p.is_file())
        for path in objects[index::count]:
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    def publish(self, roots: list[Path], local_path: str, uri: str) -> Path:
        """Upload an output from every instance to one prefix, as SageMaker does.

        Two instances writing the same key would silently overwrite each other on S3; here
        that is an error, so a component that is not shard-safe is caught locally. An output
        with no file uploads nothing, so the prefix keeps what it held (S3 deletes nothing).
        """
        destination = self.workspace.staging("output")  # published by one rename once every file is there
        owner: dict[Path, Path] = {}
        for root in roots:
            source = root / local_path.removeprefix(OPT_ML)
            if not source.is_dir():
                continue
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                relative = path.relative_to(source)
                if relative in owner:
                    raise StepFailed(
                        f"output {uri}: {relative} was written by two instances ({owner[relative].name} and "
                        f"{root.name}); with several instances, each must write its own file names"
                    )
                owner[relative] = root
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination / relative)
        if not owner:
            shutil.rmtree(destination, ignore_errors=True)
            return self.workspace.path(uri)
        return self.workspace.publish(destination, uri)

    def processing(
        self, args: dict[str, Any], sandbox: Path, job_name: str, property_files: list[dict[str, str]]
    ) -> dict[str, Any]:
        count = int(args["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
        if not 1 <= count <= MAX_LOCAL_INSTANCES:
            raise StepFailed(f"InstanceCount {count} is outside 1..{MAX_LOCAL_INSTANCES} for a local run")
        hosts = [f"algo-{i + 1}" for i in range(count)]
        roots = [sandbox / "opt_ml" if count == 1 else sandbox / host / "opt_ml" for host in hosts]
        for index, (host, root) in enumerate(zip(hosts, roots, strict=True)):
            for item in args.get("ProcessingInputs", []):
                s3 = item["S3Input"]
                sharded = s3.get("S3DataDistributionType") == "ShardedByS3Key"
                share = (index, count) if sharded else (0, 1)
                self.stage(s3["S3Uri"], root, s3["LocalPath"], f"input '{item['InputName']}'", share)
            config_dir = root / "config"
            config_dir.mkdir(parents=True, exist_ok=True)
            resource_config = {"current_host": host, "hosts": hosts}
            (config_dir / "resourceconfig.json").write_text(json.dumps(resource_config), "utf-8")
        component = component_of_image(args["AppSpecification"]["ImageUri"])
        mode = " ".join(args["AppSpecification"].get("ContainerArguments", []))
        environment = {k: str(v) for k, v in args.get("Environment", {}).items()}
        logs = [sandbox / "job.log"] if count == 1 else [sandbox / f"job-{host}.log" for host in hosts]
        with ThreadPoolExecutor(max_workers=count) as pool:
            jobs = [
                pool.submit(run_component, component, mode, root, log, environment, self.runtime)
                for root, log in zip(roots, logs, strict=True)
            ]
            for job in jobs:
                job.result()  # the first failure fails the step, as one failed instance fails the job
        outputs = {}
        published = {}
        for item in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3 = item["S3Output"]
            published[item["OutputName"]] = self.publish(roots, s3["LocalPath"], s3["S3Uri"])
            outputs[item["OutputName"]] = {"OutputName": item["OutputName"], "S3Output": dict(s3)}
        files = {}
        for spec in property_files:
            path = published[spec["OutputName"]] / spec["FilePath"]
            if not path.is_file():
                raise StepFailed(f"property file {spec['PropertyFileName']}: {spec['FilePath']} was not written")
            files[spec["PropertyFileName"]] = json.loads(path.read_text("utf-8"))
        return {
            "ProcessingJobName": job_name,
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": outputs},
            "PropertyFiles": files,
        }

    def training_job(self, args: dict[str, Any], job_name: str, sandbox: Path) -> tuple[str, dict[str, float]]:
        """One training job: channels, hyperparameters.json, the entrypoint, model.tar.gz, metrics."""
        root = sandbox / "opt_ml"
        for channel in args.get("InputDataConfig", []):
            s3 = channel["DataSource"]["S3DataSource"]
            name = channel["ChannelName"]
            self.stage(s3["S3Uri"], root, f"{OPT_ML}input/data/{name}", f"channel '{name}'")
        hyperparameters = args.get("HyperParameters", {})
        not_strings = sorted(k for k, v in hyperparameters.items() if not isinstance(v, str))
        if not_strings:
            raise StepFailed(f"HyperParameters {not_strings} are not strings, which CreateTrainingJob refuses")
        config_dir = root / "input" / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters), "utf-8")
        specification = args["AlgorithmSpecification"]
        if component_of_image(specification["TrainingImage"]) != ALGORITHM:
            raise StepFailed(f"training image {specification['TrainingImage']} is not the algorithm component")
        log = sandbox / "job.log"
        run_component(ALGORITHM, "train", root, log=log, runtime=self.runtime)
        metrics = parse_metrics(log.read_text("utf-8"), specification.get("MetricDefinitions", []))
        output = args["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{job_name}/output/model.tar.gz"
        pack_model(root / "model", self.workspace.path(output))
        return output, metrics

    def training(self, args: dict[str, Any], sandbox: Path, job_name: str) -> dict[str, Any]:
        output, metrics = self.training_job(args, job_name, sandbox)
        return {
            "TrainingJobName": job_name,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": output},
            "FinalMetricDataList": {n: {"MetricName": n, "Value": v} for n, v in metrics.items()},
            "HyperParameters": args.get("HyperParameters", {}),
        }

    def tuning(self, args: dict[str, Any], sandbox: Path, job_name: str, max_jobs: int) -> dict[str, Any]:
        """A seeded random search over the step's ranges, at most `max_jobs` jobs (tuning.local_max_jobs)."""
        tuning = args["HyperParameterTuningJobConfig"]
        objective = tuning["HyperParameterTuningJobObjective"]
        limit = int(tuning["ResourceLimits"]["MaxNumberOfTrainingJobs"])
        jobs = min(limit, max_jobs)
        definition = args["TrainingJobDefinition"]
        rng = random.Random(job_name)
        summaries = []
        for number in range(1, jobs + 1):
            tuned = sample_hyperparameters(tuning["ParameterRanges"], rng)
            job_args = {**definition, "HyperParameters": {**definition.get("StaticHyperParameters", {}), **tuned}}
            trial = f"{job_name}-{number:03d}"
            self.progress(f"    trial {number}/{jobs}: {tuned}")
            _, metrics = self.training_job(job_args, trial, sandbox / trial)
            if objective["MetricName"] not in metrics:
                raise StepFailed(f"job {trial} did not report the objective metric {objective['MetricName']}")
            summaries.append(
                {
                    "TrainingJobName": trial,
                    "TrainingJobStatus": "Completed",
                    "TunedHyperParameters": tuned,
                    "FinalHyperParameterTuningJobObjectiveMetric": {
                        "MetricName": objective["MetricName"],
                        "Value": metrics[objective["MetricName"]],
                    },
                }
            )
        maximise = objective["Type"] == "Maximize"
        summaries.sort(key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=maximise)
        return {
            "HyperParameterTuningJobName": job_name,
            "HyperParameterTuningJobStatus": "Completed",
            "BestTrainingJob": summaries[0],
            "TrainingJobSummaries": summaries,
        }

    def transform(self, args: dict[str, Any], model: dict[str, Any], sandbox: Path, job_name: str) -> dict[str, Any]:
        """Batch Transform with `model` (CreateModel's PrimaryContainer) served from its model.tar.gz."""
        data = args["TransformInput"]
        if data.get("SplitType") != "Line" or args.get("BatchStrategy") != "MultiRecord":
            raise StepFailed("local Batch Transform supports SplitType Line with BatchStrategy MultiRecord")
        source = self.workspace.path(data["DataSource"]["S3DataSource"]["S3Uri"])
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        if not files:
            raise StepFailed(f"transform input {data['DataSource']['S3DataSource']['S3Uri']} holds no files")
        output_uri = args["TransformOutput"]["S3OutputPath"]
        destination = self.workspace.staging("transform")  # every .out, published together when all are done
        max_payload = int(args.get("MaxPayloadInMB", 6)) * 1024 * 1024
        concurrency = int(args.get("MaxConcurrentTransforms", 1))
        shaping = args.get("DataProcessing", {})
        try:
            RecordShaping.from_data_processing(shaping)
        except ValueError as exc:
            raise StepFailed(f"Transform's DataProcessing: {exc}") from exc
        archive, environment = self.workspace.path(model["ModelDataUrl"]), model.get("Environment") or {}
        with model_server(
            archive, sandbox / "opt_ml", self.runtime, {k: str(v) for k, v in environment.items()}
        ) as base:
            for file in files:
                relative = file.relative_to(source) if source.is_dir() else Path(file.name)
                transform_file(base, file, destination / f"{relative}.out", max_payload, concurrency, shaping)
        self.workspace.publish(destination, output_uri)
        return {"TransformJobName": job_name, "TransformOutput": {"S3OutputPath": output_uri}}


def sample_hyperparameters(ranges: dict[str, list[dict[str, Any]]], rng: random.Random) -> dict[str, str]:
    """One draw from a tuning job's ParameterRanges, as strings (random search)."""
    values: dict[str, str] = {}
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            values[spec["Name"]] = f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}"
        else:
            values[spec["Name"]] = f"{rng.uniform(low, high):.6g}"
    for spec in ranges.get("IntegerParameterRanges", []):
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        if spec.get("ScalingType") == "Logarithmic":
            values[spec["Name"]] = str(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        else:
            values[spec["Name"]] = str(rng.randint(low, high))
    for spec in ranges.get("CategoricalParameterRanges", []):
        values[spec["Name"]] = rng.choice(spec["Values"])
    return values


def parse_metrics(log: str, definitions: list[dict[str, str]]) -> dict[str, float]:
    """What SageMaker does with MetricDefinitions: the last value each regex finds in the log."""
    metrics: dict[str, float] = {}
    for definition in definitions:
        matches = re.findall(definition["Regex"], log)
        if matches:
            metrics[definition["Name"]] = float(matches[-1])
    return metrics
