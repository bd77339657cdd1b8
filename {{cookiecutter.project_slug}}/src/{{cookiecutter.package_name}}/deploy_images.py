"""Build, push and record the four component images: the logic behind buildspecs/build-images.yml.

Each image is built with CodeBuild's local layer cache (and the previous image, when the
registry has one), tagged with the git sha only (the repositories' tags are immutable),
pushed, and its digest-pinned URI written to <prefix>/images/<component>.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from .channels import COMPONENTS
from .registry.manifest import image_parameter
from .registry.store import ParameterStore

Runner = Callable[[Sequence[str]], str]


def docker(arguments: Sequence[str]) -> str:
    """Run the docker CLI; its stdout, or an error naming the command."""
    result = subprocess.run(["docker", *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(arguments[:2])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def repository(config: dict[str, Any], component: str) -> str:
    aws = config["aws"]
    return f"{aws['account_id']}.dkr.ecr.{aws['region']}.amazonaws.com/{config['project']['slug']}-{component}"


def build_and_push(
    config: dict[str, Any], env: str, tag: str, store: ParameterStore | None, run: Runner = docker
) -> dict[str, str]:
    """Build and push every component image; record each digest-pinned URI in Parameter Store.

    With several accounts (`store` None) the tooling account holds no environment's Parameter
    Store: the pinned URIs go on as the build's `images.json`, and each deploy records them in
    its own account (`record_images`).
    """
    if not tag or any(c in tag for c in " :/@"):
        raise ValueError(f"Image tag {tag!r} must be a plain git sha or version, e.g. 3f2c1ab.")
    pinned = {}
    for component in COMPONENTS:
        repo = repository(config, component)
        previous = store_value(store, image_parameter(config, env, component)) if store else None
        cache = ["--cache-from", previous] if previous and _exists(run, previous) else ["--cache-from", f"{repo}:{tag}"]
        run(
            [
                "build",
                "--file", f"docker/{component}/Dockerfile",
                *cache,
                "--build-arg", "BUILDKIT_INLINE_CACHE=1",
                "--tag", f"{repo}:{tag}",
                ".",
            ]
        )  # fmt: skip
        run(["push", f"{repo}:{tag}"])
        digest = run(["inspect", "--format", "{{index .RepoDigests 0}}", f"{repo}:{tag}"])
        if "@sha256:" not in digest:
            raise RuntimeError(f"docker did not report a pushed digest for {repo}:{tag} (got {digest!r}).")
        pinned[component] = f"{repo}@{digest.split('@', 1)[1]}"
        if store is not None:
            store.put(
                image_parameter(config, env, component), pinned[component], description=f"{component} image, git {tag}"
            )
    return pinned


def record_images(config: dict[str, Any], env: str, pinned: dict[str, str], store: ParameterStore) -> dict[str, str]:
    """Write the images a deploy promotes into this account's Parameter Store: each of this project's
    repositories (in the tooling account), pinned by digest; anything else is refused."""
    problems = [f"{c}: missing" for c in COMPONENTS if c not in pinned]
    for component in COMPONENTS:
        uri = pinned.get(component, "")
        if uri and not re.fullmatch(re.escape(repository(config, component)) + r"@sha256:[0-9a-f]{64}", uri):
            problems.append(f"{component}: {uri!r} is not {repository(config, component)}@sha256:<digest>")
    if problems:
        raise ValueError(f"The images to record are not this project's pinned images: {'; '.join(problems)}.")
    for component in COMPONENTS:
        store.put(image_parameter(config, env, component), pinned[component], description="promoted by deploy")
    return {c: pinned[c] for c in COMPONENTS}


def promote_images(config: dict[str, Any], source_env: str, target_env: str, store: ParameterStore) -> dict[str, str]:
    """Copy the digest-pinned image URIs of one environment to the next: prod runs what dev tested."""
    pinned = {c: store.get(image_parameter(config, source_env, c)).value for c in COMPONENTS}
    for component, uri in pinned.items():
        store.put(image_parameter(config, target_env, component), uri, description=f"promoted from {source_env}")
    return pinned


def store_value(store: ParameterStore, name: str) -> str | None:
    """The parameter's value if it holds a pinned image, else None."""
    from .registry.store import ParameterNotFound

    try:
        value = store.get(name).value
    except ParameterNotFound:
        return None
    return value if "@sha256:" in value else None


def _exists(run: Runner, image: str) -> bool:
    try:
        run(["manifest", "inspect", image])
    except RuntimeError:
        return False
    return True
