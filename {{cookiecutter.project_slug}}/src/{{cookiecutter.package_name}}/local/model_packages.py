"""The model registry in the workspace: FilePackages under `.local/sagemaker/`, and the rule that hears it.

On AWS, a package's change of approval reaches the approval Lambda through an EventBridge rule
(infra/environment.yml; with one account per environment, forwarded from the tooling account,
where the groups live). Here FilePackages announces the same event, and the same filter
(`lambdas/approval.py`'s `rule`) hands it to the same handler, so a decision given with
`registry review` moves the label as one given in Studio would. In a bake with one account per
environment, the workspace's group is the tooling account's, named by ARN, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..lambdas import approval
from ..lambdas.services import Services, installed
from ..pipelines.layout import account, package_group
from ..registry.manifest import manifest_parameter
from ..registry.packages import FilePackages, group_of, owner_of
from .workspace import Workspace, WorkspaceObjects


def approval_settings(config: dict[str, Any], env: str, image: str = "") -> dict[str, str]:
    """What the deployed approval Lambda reads from its environment, for one environment here."""
    return {
        "manifest_parameter": manifest_parameter(config, env),
        "package_group": package_group(config, env),
        "environment": env,
        "project": config["project"]["slug"],
        "algorithm_image": image,
    }


def workspace_packages(
    workspace: Workspace, config: dict[str, Any], env: str, notify: Callable[[str, str], None], image: str = ""
) -> FilePackages:
    """The workspace's model registry, with its approval events delivered as the deployed rule delivers them."""
    settings = approval_settings(config, env, image)
    # The group's own account: the environment's, or the tooling account's with one account per environment.
    group = settings["package_group"]
    owner = owner_of(group, account(config, env))
    # Another account's group is its stack's to create (infra/cicd.yml): here it exists from the start.
    provisioned = (group_of(group),) if owner != account(config, env) else ()
    packages = FilePackages(
        workspace.root / "sagemaker" / "model-packages", config["aws"]["region"], owner, provisioned
    )

    def deliver(event: dict[str, Any]) -> None:
        if not approval.matches(event, settings["package_group"]):
            return
        services = Services(workspace.store, None, notify, WorkspaceObjects(workspace), packages=packages)
        with installed(services):
            approval.decide(event, settings)

    packages.listener = deliver
    return packages
