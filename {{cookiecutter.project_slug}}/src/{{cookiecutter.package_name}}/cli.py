"""The command line of this repository, installed as a console script and as `python -m <package>`."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from .channels import COMPONENTS
from .config import ConfigError, load_config
from .images import ImageError
from .pipelines.definition import KINDS
from .registry.manifest import APPROVED
from .registry.store import ParameterNotFound
from .sample_data import CONCEPT_STAGES, DRIFT_STAGES, generate

# In a terminal, rich fits the output to its width. Piped to a file or a CI log, nothing wraps or
# truncates: a long line (a path, an S3 URI) stays one line, and a table keeps its natural width.
_TERMINAL = sys.stderr.isatty()
console = Console(stderr=True, width=None if _TERMINAL else 100_000, soft_wrap=not _TERMINAL)
QUIET_HELP = "one line per pipeline execution, its alerts and the result: not every step"
CONTAINERS_HELP = "run each job in its component's image (build them with `make images`) instead of this venv"


def _progress(args: argparse.Namespace) -> Any:
    """Every step as it starts and ends; with --quiet, one line per execution, its alerts and the result."""
    if getattr(args, "quiet", False):
        from .local.executor import quiet

        return quiet(console.print)
    return console.print


def _emit(args: argparse.Namespace, summary: dict[str, Any], human: str) -> int:
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        console.print(human)
    return 0 if summary.get("status", "Succeeded") == "Succeeded" else 1


def _announce(args: argparse.Namespace, line: str, answer: Any) -> int:
    """What an AWS command did, for people (stderr), and with --json its JSON line too (stdout)."""
    console.print(line)
    if args.json:
        print(json.dumps(answer))
    return 0


def _workspace(args: argparse.Namespace, writable: bool = True):
    """The local workspace, checked before anything runs: a file in its place, or no write access, is named."""
    from .local.workspace import Workspace

    workspace = Workspace(args.workspace)
    workspace.check(writable=writable)
    return workspace


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the sample training table, or a production batch at a drift stage."""
    data = load_config()["data"]
    frame = generate(
        args.rows,
        target_column=data["target_column"],
        problem_type=data["problem_type"],
        seed=args.seed,
        drift_stage=args.stage,
        concept_stage=args.concept_stage,
    )
    if args.without_target:
        frame = frame.drop(columns=[data["target_column"]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    console.print(f"wrote {len(frame)} rows to {args.out}")
    return 0


def _trained(summary: dict[str, Any]) -> str:
    """What `local train` and `local retrain` say: the version, the gate's verdict, and where the reports are."""
    if summary["status"] != "Succeeded":
        return f"[red]training failed[/]: {summary.get('failure')}. Nothing was registered."
    if summary.get("duplicate_of"):
        head = f"training Succeeded: the model equals version {summary['duplicate_of']}; nothing was registered"
    else:
        state = "promoted" if summary["promoted"] else "a candidate"
        head = f"training Succeeded: model version {summary['manifest_version']} is {state}"
    data = summary["training_data"]
    grown = f"{data['rows']} rows ({data['new_rows']} new, {data['holdout_rows']} held out for the gate)"
    learnt = f"the data as given, {data['uri']}" if data["unchanged"] else f"{grown}, {data['uri']}"
    return (
        f"{head}\n{summary['decision']}\nmetrics {summary['metrics']}\n"
        f"training data: {learnt}\n"
        f"gate report: {summary['reports']['gate']}\n"
        f"evaluation report: {summary['reports']['evaluation']}\n"
        f"explanations report: {summary['reports']['explainability']}"
    )


def cmd_local_train(args: argparse.Namespace) -> int:
    from .local.commands import local_train

    summary = local_train(
        args.data, load_config(), args.env, _workspace(args), _progress(args), args.containers, not args.no_cache
    )
    return _emit(args, summary, _trained(summary))


def cmd_local_retrain(args: argparse.Namespace) -> int:
    from .local.commands import local_retrain

    summary = local_retrain(
        load_config(), args.env, _workspace(args), _progress(args), args.containers, base_rows=args.base_rows
    )
    return _emit(args, summary, _trained(summary))


def cmd_local_infer(args: argparse.Namespace) -> int:
    from .local.commands import local_infer

    summary = local_infer(
        args.data,
        load_config(),
        args.env,
        _workspace(args),
        _progress(args),
        instances=args.instances,
        containers=args.containers,
    )
    if summary["status"] == "Succeeded":
        drift = summary["drift"]
        human = (
            f"inference on {summary['rows']} rows with model version {summary['manifest_version']}: "
            f"{'drift in ' + ', '.join(drift['drifted_features']) if drift['detected'] else 'no drift'}"
            f"{'; retraining triggered' if summary['retrain_triggered'] else ''}\n"
            f"predictions: {summary['predictions']}\ndrift report: {summary['report']}\n"
            f"explanations report: {summary['explainability_report']}"
        )
    else:
        human = f"[red]inference failed[/]: {summary.get('failure')}"
    return _emit(args, summary, human)


def _outcome(kind: str, summary: dict[str, Any]) -> str:
    steps = ", ".join(f"{name} {outcome}" for name, outcome in summary["steps"].items())
    ending = "" if summary["status"] == "Succeeded" else f"\n[red]failed[/]: {summary.get('failure')}"
    return f"{kind} execution {summary['run_id']} {summary['status']}: {steps}{ending}"


def cmd_local_retry(args: argparse.Namespace) -> int:
    from .local.commands import local_retry

    summary = local_retry(
        args.execution_id, load_config(), args.env, _workspace(args), _progress(args), args.containers
    )
    return _emit(args, summary, _outcome("retried", summary))


def cmd_local_rerun(args: argparse.Namespace) -> int:
    from .local.commands import local_rerun

    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    summary = local_rerun(
        args.kind, steps, load_config(), args.env, _workspace(args), args.reference, _progress(args), args.containers
    )
    return _emit(args, summary, _outcome(f"{args.kind} (selective)", summary))


def cmd_local_clean(args: argparse.Namespace) -> int:
    from .config import parse_offset
    from .local.clean import clean, describe

    age = parse_offset(args.older_than)
    cleaned = clean(_workspace(args), abs(age), dry_run=args.dry_run)
    summary = {"status": "Succeeded", "dry_run": args.dry_run, **cleaned.as_json()}
    return _emit(args, summary, describe(cleaned, args.dry_run))


def cmd_local_labels(args: argparse.Namespace) -> int:
    from .local.commands import land_labels

    summary = land_labels(args.data, load_config(), args.env, _workspace(args))
    return _emit(args, summary, f"{summary['rows']} label(s) landed at {summary['uri']}")


def cmd_local_quality(args: argparse.Namespace) -> int:
    from .local.commands import local_quality

    given = {"StartOffset": args.start_offset, "EndOffset": args.end_offset, "MinLabelledRows": args.min_labelled_rows}
    overrides = {name: value for name, value in given.items() if value is not None}
    config = load_config()
    summary = local_quality(config, args.env, _workspace(args), _progress(args), overrides)
    if summary["status"] == "Succeeded":
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in summary["metrics"].items()) or "no metrics"
        minimum = overrides.get("MinLabelledRows", config["quality"]["min_labelled_rows"])
        verdict = (
            "[red]violated[/]: " + ", ".join(summary["violations"])
            if summary["violations"]
            else "ok"
            if summary["judged"]
            else f"not judged: a verdict needs {minimum} (--min-labelled-rows, or quality.min_labelled_rows)"
        )
        human = (
            f"model quality over {summary['labelled_rows']} labelled rows ({summary['coverage']:.0%} of the window's "
            f"predictions): {metrics}; {verdict}{'; retraining triggered' if summary['retrain_triggered'] else ''}\n"
            f"report: {summary['report']}"
        )
    else:
        human = f"[red]model quality failed[/]: {summary.get('failure')}"
    return _emit(args, summary, human)


def cmd_local_demo(args: argparse.Namespace) -> int:
    from .local.demo import run_demo

    summary = run_demo(load_config(), args.env, _workspace(args), console, args.rows, args.production_rows)
    if args.json:
        print(json.dumps(summary, default=str))
    return 0


def cmd_images_build(args: argparse.Namespace) -> int:
    from .images import build_images

    root = Path(__file__).resolve().parents[2]
    if not (root / "docker").is_dir():
        raise ImageError(f"No docker/ folder in {root}: build images from a checkout of this repository.")
    components = args.component or list(COMPONENTS)
    built = build_images(load_config(), root, components, args.base_image, args.ca_bundle, progress=console.print)
    for image in built:
        console.print(f"built {image.image} in {image.seconds:.1f}s")
    return 0


def cmd_pipelines_definition(args: argparse.Namespace) -> int:
    from .pipelines.definition import definition

    print(json.dumps(definition(load_config(), args.env, args.kind), indent=2))
    return 0


def cmd_pipelines_upsert(args: argparse.Namespace) -> int:
    from .pipelines.deploy import upsert

    arns = upsert(load_config(), args.env)
    for kind, arn in arns.items():
        console.print(f"{kind}: {arn}")
    if args.json:
        print(json.dumps(arns))
    return 0


def cmd_pipelines_start(args: argparse.Namespace) -> int:
    from .pipelines.executions import start_execution

    parameters = {}
    for item in args.param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: write it as Name=Value, e.g. --param InputData=s3://bucket/prefix/")
        parameters[name] = value
    steps = [s.strip() for s in (args.steps or "").split(",") if s.strip()]
    if args.reference and not steps:
        raise ValueError("--reference is for a selective execution: name the steps to run with --steps.")
    started = start_execution(load_config(), args.env, args.kind, parameters, steps, args.reference)
    return _announce(args, f"started {started['execution_arn']}", started)


def cmd_pipelines_retrain(args: argparse.Namespace) -> int:
    from .pipelines.executions import retrain

    started = retrain(load_config(), args.env, args.base_rows)
    line = f"started {started['execution_arn']} on {started['new_labelled_rows']} new labelled row(s)"
    return _announce(args, line, started)


def cmd_pipelines_retry(args: argparse.Namespace) -> int:
    from .pipelines.executions import retry_execution

    arn = retry_execution(load_config(), args.execution_arn)
    return _announce(args, f"retrying {arn}", {"execution_arn": arn})


def cmd_data_snapshot(args: argparse.Namespace) -> int:
    from .pipelines.executions import snapshot_data

    snapshot = snapshot_data(load_config(), args.env, args.data)
    line = f"{snapshot['uri']} ({snapshot['uploaded']} object(s) uploaded): pass it as InputData"
    return _announce(args, line, snapshot)


def cmd_images_push(args: argparse.Namespace) -> int:
    from .deploy_images import build_and_push
    from .pipelines.layout import multi_account
    from .registry.store import SsmParameterStore

    config = load_config()
    # With one account per environment, the pinned URIs travel as a build artifact, not through SSM.
    store = None if multi_account(config) else SsmParameterStore(region=config["aws"]["region"])
    pinned = build_and_push(config, args.env, args.tag, store)
    for component, uri in pinned.items():
        console.print(f"{component}: {uri}")
    if args.out:
        args.out.write_text(json.dumps(pinned, indent=2) + "\n", "utf-8")
    return 0


def cmd_images_record(args: argparse.Namespace) -> int:
    from .deploy_images import record_images
    from .registry.store import SsmParameterStore

    config = load_config()
    try:
        pinned = json.loads(args.from_file.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{args.from_file} is not the JSON `images push --out` writes: {exc}") from exc
    recorded = record_images(config, args.env, pinned, SsmParameterStore(region=config["aws"]["region"]))
    for component, uri in recorded.items():
        console.print(f"{component}: {uri} -> {args.env}")
    return 0


def cmd_images_promote(args: argparse.Namespace) -> int:
    from .deploy_images import promote_images
    from .registry.store import SsmParameterStore

    config = load_config()
    pinned = promote_images(config, args.source, args.env, SsmParameterStore(region=config["aws"]["region"]))
    for component, uri in pinned.items():
        console.print(f"{component}: {uri} -> {args.env}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Publish the Lambda handlers, then upsert every pipeline with the pinned images."""
    from .pipelines.deploy import publish_lambdas, seed_markers, upsert

    config = load_config()
    for function, sha in publish_lambdas(config, args.env).items():
        console.print(f"lambda {function}: {sha}")
    for marker in seed_markers(config, args.env):
        console.print(f"marker {marker}")
    arns = upsert(config, args.env)
    for kind, arn in arns.items():
        console.print(f"pipeline {kind}: {arn}")
    if args.json:
        print(json.dumps(arns))
    return 0


def _registry(args: argparse.Namespace):
    from .registry.manifest import ModelRegistry, manifest_parameter
    from .registry.store import SsmParameterStore

    config = load_config()
    if args.aws:
        store = SsmParameterStore(region=config["aws"]["region"])
    else:
        store = _workspace(args, writable=args.action in WRITING_ACTIONS).store
    return ModelRegistry(store, manifest_parameter(config, args.env))


# Registry actions that write: Parameter Store's label, or the model registry's packages.
WRITING_ACTIONS = ("promote", "sync", "review")


def _mirror(args: argparse.Namespace, registry: Any):
    """The model registry's package group of this environment, kept in step with `registry`."""
    from .channels import ALGORITHM
    from .pipelines.layout import default_image, package_group
    from .registry.manifest import image_parameter
    from .registry.packages import PackageMirror

    config = load_config()
    group = package_group(config, args.env)
    if args.aws:
        import boto3

        try:  # the image a version registered before the mirror is mirrored with: the deployed one
            image = registry.store.get(image_parameter(config, args.env, ALGORITHM)).value
        except ParameterNotFound:
            image = ""
        client = boto3.client("sagemaker", region_name=config["aws"]["region"])
    else:
        from .local.model_packages import workspace_packages

        def notify(subject: str, message: str) -> None:
            console.print(f"[yellow]ALERT[/] {subject}: {message}")

        image = default_image(config, ALGORITHM)
        workspace = _workspace(args, writable=args.action in WRITING_ACTIONS)
        client = workspace_packages(workspace, config, args.env, notify, image)
    return PackageMirror(client, registry, group, image, args.env)


def _package_column(args: argparse.Namespace, registry: Any) -> dict[int, Any]:
    """Each version's package, for `registry history`; none shown if the model registry cannot be read."""
    from .registry.packages import mirror_errors

    try:
        return _mirror(args, registry).packages()
    except mirror_errors() as exc:  # the mirror never stands between a team and its Parameter Store history
        console.print(f"[yellow]The model registry could not be read[/] ({type(exc).__name__}: {exc}).")
        return {}


def _in_step(args: argparse.Namespace, registry: Any) -> str:
    """Reconcile the model registry with Parameter Store; a sentence on what it did, or why it could not."""
    from .registry.packages import mirror_errors

    mirror = _mirror(args, registry)
    try:
        done = mirror.reconcile()
    except mirror_errors() as exc:  # Parameter Store already holds the change; the mirror follows when it can
        return (
            f"the model registry {mirror.group} could not be brought in step ({type(exc).__name__}: {exc}); "
            "Parameter Store decides what serves, and `registry sync` mirrors it later"
        )
    created = ", ".join(f"v{v}" for v in done.created) or "no package"
    changed = ", ".join(f"v{v}" for v in done.changed) or "no approval"
    return f"model registry {mirror.group} in step: created {created}, changed {changed}"


def cmd_registry_history(args: argparse.Namespace) -> int:
    registry = _registry(args)
    versions = registry.history()
    packages = _package_column(args, registry)
    if args.json:
        listed = [
            v.__dict__ | {"package": packages[v.version].__dict__ if v.version in packages else None} for v in versions
        ]
        print(json.dumps(listed, default=str))
        return 0
    if not versions:
        console.print("No model registered yet.")
    for v in versions:
        labels = ",".join(v.labels) or "-"
        if v.problem:
            console.print(f"v{v.version:<3} {labels:<9} [red]unusable[/]: {v.problem}")
            continue
        metrics = ", ".join(f"{k}={val:.4f}" for k, val in v.manifest["metrics"].items())
        why = (v.manifest.get("promotion") or {}).get("reason", "")
        console.print(
            f"v{v.version:<3} {labels:<9} {_shown(packages.get(v.version)):<34} run {v.manifest['run_id']} {metrics}"
            + (f"\n     {why}" if why else "")
        )
    return 0


def _shown(package: Any) -> str:
    return package.shown if package is not None else "no package"


def cmd_registry_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    chosen = registry.get(version=args.version) if args.version else registry.for_inference()
    package = _package_column(args, registry).get(chosen.version)
    shown = chosen.__dict__ | {"package": package.__dict__ if package else None}
    print(json.dumps(shown, indent=None if args.json else 2, default=str))
    return 0


def cmd_registry_promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    promoted = registry.promote(args.version, args.label)
    mirrored = _in_step(args, registry)
    if args.json:
        print(json.dumps(promoted.__dict__ | {"package_mirror": mirrored}, default=str))
    else:
        console.print(f"version {promoted.version} now carries {promoted.labels}; {mirrored}")
    return 0


def cmd_registry_sync(args: argparse.Namespace) -> int:
    """Mirror every version the model registry lacks, and put each package's approval in step with the label."""
    mirrored = _in_step(args, _registry(args))
    if args.json:
        print(json.dumps({"package_mirror": mirrored}))
    else:
        console.print(mirrored)
    return 0 if mirrored.startswith("model registry") else 1


def cmd_registry_review(args: argparse.Namespace) -> int:
    """Approve or reject a version's package, as a reviewer in Studio would; the approval Lambda does the rest."""
    from .registry.packages import APPROVED_STATUS, REJECTED_STATUS

    registry = _registry(args)
    mirror = _mirror(args, registry)
    mirror.reconcile()
    package = mirror.packages().get(args.version)
    if package is None:
        raise ParameterNotFound(f"Version {args.version} has no package in {mirror.group}: it cannot be reviewed.")
    status = APPROVED_STATUS if args.decision == "approve" else REJECTED_STATUS
    mirror.client.update_model_package(
        ModelPackageArn=package.arn, ModelApprovalStatus=status, ApprovalDescription=f"{args.decision}d by review"
    )
    after = mirror.packages()[args.version]
    champion = registry.champion()
    # The approval handler has answered (locally at once, as the rule delivered the event): a decision it
    # refused leaves the package with another status than the one the reviewer gave.
    refused = after.status != status and not args.aws  # on AWS the rule delivers the event to the Lambda later
    if args.json:
        serving = champion.version if champion else None
        print(json.dumps({"package": after.__dict__, "serving": serving, "refused": refused}))
    else:
        serving = f"v{champion.version}" if champion else "no version"
        outcome = "refused" if refused else "carried out"
        if args.aws:
            outcome = "sent; the approval Lambda moves the label within seconds (see registry history)"
        console.print(
            f"{args.decision} v{args.version}: {outcome}; its package is {_shown(after)}, and {serving} serves"
        )
    return 1 if refused else 0


def with_base_rows(sub: argparse.ArgumentParser) -> None:
    """A retrain started by hand: what becomes of the rows scored before the window (retraining.base_rows)."""
    sub.add_argument(
        "--base-rows", choices=["keep", "age_out"], default="keep",
        help="keep the rows scored before the window (default), or age them out: learn the window alone",
    )  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, with the nearest valid choice suggested for a mistyped command or value."""

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            nearest = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.5)
            if nearest:
                message = f"{message}; did you mean '{nearest[0]}'?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    invoked = Path(sys.argv[0]).name
    prog = f"python -m {__package__}" if invoked == "__main__.py" else invoked
    parser = Parser(prog=prog, description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path(".local"), help=WORKSPACE_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_sample, _add_local, _add_pipelines, _add_data, _add_images, _add_deploy, _add_registry):
        add(commands)
    return parser


WORKSPACE_HELP = "local mode's S3, SSM and runs (default .local)"


def _with_workspace(actions: Any) -> None:
    """Let every subcommand of `actions` take --workspace after its name too, as before the command."""
    for sub in actions.choices.values():
        sub.add_argument("--workspace", type=Path, default=argparse.SUPPRESS, help=WORKSPACE_HELP)


def _with_env(sub: argparse.ArgumentParser, json_flag: bool = True) -> argparse.ArgumentParser:
    sub.add_argument("--env", default="dev", help="environment from config/project.yaml (default dev)")
    if json_flag:
        sub.add_argument("--json", action="store_true", help="end with one JSON line for machines")
    return sub


def _add_sample(commands: Any) -> None:
    """sample: write sample data."""
    sample = commands.add_parser("sample", help="write sample data (training table or a drifted batch)")
    sample.add_argument("--rows", type=int, default=5000, help="rows to write (default 5000)")
    sample.add_argument("--stage", type=int, default=0, choices=list(DRIFT_STAGES), help="drift stage, 0 = none")
    sample.add_argument(
        "--concept-stage", type=int, default=0, choices=list(CONCEPT_STAGES),
        help="concept-drift stage: the inputs stay, the relation to the target changes (0 = none)",
    )  # fmt: skip
    sample.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same rows")
    sample.add_argument("--without-target", action="store_true", help="drop the target column (production data)")
    sample.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    sample.set_defaults(func=cmd_sample)


def _add_local(commands: Any) -> None:
    """local: run the pipelines on this machine."""
    local = commands.add_parser("local", help="run the pipelines locally").add_subparsers(dest="action", required=True)
    train = _with_env(local.add_parser("train", help="run the training pipeline on a CSV"))
    train.add_argument("--data", type=Path, required=True, help="the training CSV, with the target column")
    train.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    train.add_argument("--no-cache", action="store_true", help="run every step, even where a cached run would do")
    train.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    train.set_defaults(func=cmd_local_train)
    retrain = _with_env(
        local.add_parser(
            "retrain", help="retrain now as drift would: the promoted model's data plus the labelled production rows"
        )
    )
    with_base_rows(retrain)
    retrain.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    retrain.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    retrain.set_defaults(func=cmd_local_retrain)
    retry = _with_env(local.add_parser("retry", help="retry a failed execution from its failed step"))
    retry.add_argument("execution_id", help="the execution's id (its folder under <workspace>/runs/<pipeline>/)")
    retry.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    retry.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    retry.set_defaults(func=cmd_local_retry)
    rerun = _with_env(local.add_parser("rerun", help="run chosen steps again, reusing a reference execution's outputs"))
    rerun.add_argument("kind", choices=list(KINDS), help="the pipeline")
    rerun.add_argument("--steps", required=True, help="comma-separated step names, e.g. Training,Explainability")
    rerun.add_argument("--reference", help="the execution whose outputs the other steps reuse (default: latest)")
    rerun.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    rerun.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    rerun.set_defaults(func=cmd_local_rerun)
    infer = _with_env(local.add_parser("infer", help="run the batch-inference pipeline on a CSV or a folder of CSVs"))
    infer.add_argument("--data", type=Path, required=True, help="a CSV file, or a folder of CSV files (one batch)")
    infer.add_argument(
        "--instances",
        type=int,
        default=None,
        help="instances of the sharded serve steps (ProcessingInstanceCount); each takes a share of the files",
    )
    infer.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    infer.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    infer.set_defaults(func=cmd_local_infer)
    labels = _with_env(local.add_parser("labels", help="land a ground-truth CSV (inference_id,<target>)"))
    labels.add_argument("--data", type=Path, required=True, help="a CSV of inference_id and the true target")
    labels.set_defaults(func=cmd_local_labels)
    quality = _with_env(local.add_parser("quality", help="run the model-quality pipeline on the landed labels"))
    quality.add_argument("--start-offset", help="window start, e.g. -P7D (default: config quality.start_offset)")
    quality.add_argument("--end-offset", help="window end, e.g. -PT0H (default: config quality.end_offset)")
    quality.add_argument("--min-labelled-rows", help="labelled rows a verdict needs (default: config)")
    quality.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    quality.set_defaults(func=cmd_local_quality)
    clean = local.add_parser("clean", help="free the job sandboxes and input copies of finished runs")
    clean.add_argument("--json", action="store_true", help="end with one JSON line for machines")
    clean.add_argument(
        "--older-than",
        default="P7D",
        help="only runs that finished longer ago than this, e.g. P7D or PT12H (default P7D)",
    )
    clean.add_argument("--dry-run", action="store_true", help="say what would be freed, and free nothing")
    clean.set_defaults(func=cmd_local_clean)
    demo = _with_env(
        local.add_parser(
            "demo", help="the two monitoring stories (data drift, concept drift), day by day, each in its own workspace"
        )
    )
    demo.add_argument("--rows", type=int, default=5000, help="training rows")
    demo.add_argument("--production-rows", type=int, default=1000, help="rows per drift stage")
    demo.set_defaults(func=cmd_local_demo, workspace_default="demo")
    _with_workspace(local)


def _add_pipelines(commands: Any) -> None:
    """pipelines: definitions, deployment and executions on AWS."""
    pipelines = commands.add_parser("pipelines", help="pipeline definitions and deployment")
    pipeline_actions = pipelines.add_subparsers(dest="action", required=True)
    definition = _with_env(pipeline_actions.add_parser("definition", help="print a definition (offline)"), False)
    definition.add_argument("kind", choices=list(KINDS), help="the pipeline")
    definition.set_defaults(func=cmd_pipelines_definition)
    upsert = _with_env(pipeline_actions.add_parser("upsert", help="create or update every pipeline on AWS"))
    upsert.set_defaults(func=cmd_pipelines_upsert)
    start = _with_env(pipeline_actions.add_parser("start", help="start an execution on AWS (or a selective one)"))
    start.add_argument("kind", choices=list(KINDS), help="the pipeline")
    start.add_argument("--param", action="append", help="a pipeline parameter, Name=Value (repeatable)")
    start.add_argument("--steps", help="a selective execution: only these steps, comma-separated")
    start.add_argument("--reference", help="the execution ARN whose outputs the other steps reuse (default: latest)")
    start.set_defaults(func=cmd_pipelines_start)
    retrain_deployed = _with_env(
        pipeline_actions.add_parser(
            "retrain", help="start a retrain on AWS as the retrain Lambda would (the labelled rows since)"
        )
    )
    with_base_rows(retrain_deployed)
    retrain_deployed.set_defaults(func=cmd_pipelines_retrain)
    retry_deployed = _with_env(pipeline_actions.add_parser("retry", help="retry a failed execution on AWS"))
    retry_deployed.add_argument("execution_arn", help="the failed execution's ARN")
    retry_deployed.set_defaults(func=cmd_pipelines_retry)


def _add_data(commands: Any) -> None:
    """data: training data on S3."""
    data = commands.add_parser("data", help="training data on S3").add_subparsers(dest="action", required=True)
    snapshot = _with_env(data.add_parser("snapshot", help="upload training data under its sha256 (for InputData)"))
    snapshot.add_argument("--data", type=Path, required=True, help="a CSV file, or a folder of CSV files")
    snapshot.set_defaults(func=cmd_data_snapshot)


def _add_images(commands: Any) -> None:
    """images: build, push, record and promote the component images."""
    images = commands.add_parser("images", help="component images (CI)").add_subparsers(dest="action", required=True)
    build = images.add_parser("build", help="build the component images locally (docker, or buildah without a daemon)")
    build.add_argument("--component", action="append", choices=COMPONENTS, help="only these (repeatable)")
    build.add_argument("--base-image", help="the Dockerfiles' BASE_IMAGE (default: python:<version>-slim)")
    build.add_argument("--ca-bundle", type=Path, help="extra CA bundle for pip behind a TLS-intercepting proxy")
    build.set_defaults(func=cmd_images_build)
    push = _with_env(images.add_parser("push", help="build, push and record the four images"), False)
    push.add_argument("--tag", required=True, help="the git sha to tag the images with")
    push.add_argument("--out", type=Path, help="also write the pinned URIs to this JSON file (images.json)")
    push.set_defaults(func=cmd_images_push)
    record = _with_env(images.add_parser("record", help="record pinned image URIs from images.json (deploy)"), False)
    record.add_argument("--from-file", type=Path, required=True, help="the images.json `images push --out` wrote")
    record.set_defaults(func=cmd_images_record)
    promote_images = _with_env(images.add_parser("promote", help="copy pinned image URIs from another env"), False)
    promote_images.add_argument("--from", dest="source", required=True, help="environment to copy from")
    promote_images.set_defaults(func=cmd_images_promote)


def _add_deploy(commands: Any) -> None:
    """deploy: the Lambdas and every pipeline (CI)."""
    deploy = _with_env(commands.add_parser("deploy", help="publish the Lambdas and upsert every pipeline (CI)"))
    deploy.set_defaults(func=cmd_deploy)


def _add_registry(commands: Any) -> None:
    """registry: model manifest versions in Parameter Store."""
    registry = commands.add_parser("registry", help="model manifest versions in Parameter Store")
    registry_actions = registry.add_subparsers(dest="action", required=True)
    for action, func, purpose in (
        ("history", cmd_registry_history, "every version, its labels and its model package"),
        ("show", cmd_registry_show, "one version's manifest"),
        ("promote", cmd_registry_promote, "move the label to a version, and approve its model package"),
        ("sync", cmd_registry_sync, "mirror what the model registry lacks, and put its approvals in step"),
        ("review", cmd_registry_review, "approve or reject a version's model package, as a reviewer in Studio"),
    ):
        sub = _with_env(registry_actions.add_parser(action, help=purpose))
        sub.add_argument(
            "--aws", action="store_true", help="use AWS (SSM and SageMaker's model registry) instead of the workspace"
        )
        if action in ("show", "promote", "review"):
            shown = "to show (default: the promoted one)" if action == "show" else f"to {action}"
            sub.add_argument("--version", type=int, required=action != "show", help=f"the manifest version {shown}")
        if action == "review":
            sub.add_argument("--decision", required=True, choices=["approve", "reject"], help="the reviewer's decision")
        if action == "promote":
            sub.add_argument(
                "--label", default=APPROVED, choices=[APPROVED],
                help=f"the label moved to that version: {APPROVED!r}, the only one with an effect (inference and "
                "the model-quality pipeline serve the version that carries it)",
            )  # fmt: skip
        sub.set_defaults(func=func)
    _with_workspace(registry_actions)


# Options whose value may start with "-" (an offset such as -P7D), which argparse would read as an option.
DASHED_VALUES = ("--start-offset", "--end-offset")


def _dashed_values_joined(argv: list[str]) -> list[str]:
    """`--start-offset -P7D`, as the docs write it, handed on as `--start-offset=-P7D`."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in DASHED_VALUES and arg.startswith("-"):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_dashed_values_joined(sys.argv[1:] if argv is None else argv))
    if getattr(args, "workspace_default", None) and args.workspace == Path(".local"):
        args.workspace = Path(".local") / args.workspace_default
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError, ParameterNotFound, ImageError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() adds quotes
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped reading (`registry show | head`): nothing left to say
        with contextlib.suppress(OSError):  # and nothing for the interpreter's own flush at exit to complain of
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a disk, permission or path problem: named, never a traceback
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}. Check that path, then run again.", file=sys.stderr)
        return 2
