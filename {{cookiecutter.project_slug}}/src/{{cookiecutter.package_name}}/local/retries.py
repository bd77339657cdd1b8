"""A step's RetryPolicies, honoured locally as SageMaker Pipelines honours them.

A job step lists policies (`SageMakerJobStepRetryPolicy`, `StepRetryPolicy`), each naming the
exception types it retries, an interval, a backoff rate and either MaxAttempts (retries at
most that many times) or ExpireAfterMin (retries until that long after the step started).
A failure whose type no policy names fails the step at once, as does every job failure of
its own (an algorithm error): SageMaker never retries those. Throttling and service faults
are retried by the service itself on every step, Lambda steps included, unless a policy
overrides that (`SERVICE_DEFAULT`).

Locally nothing is short of capacity or throttled, so these failures only come when they are
injected on purpose (`LocalExecutor(faults=...)`): how the retry logic itself is tested.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# The exception types of SageMaker's retry policies.
JOB_ERRORS = ("SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT", "SageMaker.JOB_INTERNAL_ERROR")
STEP_ERRORS = ("Step.THROTTLING", "Step.SERVICE_FAULT")


class TransientFailure(RuntimeError):
    """A failure SageMaker classifies by type (capacity, throttling, ...): what retry policies match."""

    def __init__(self, kind: str, message: str = "") -> None:
        if kind not in JOB_ERRORS + STEP_ERRORS:
            raise ValueError(f"unknown exception type {kind!r}; one of {JOB_ERRORS + STEP_ERRORS}")
        super().__init__(f"{kind}: {message or 'transient failure'}")
        self.kind = kind


# What Pipelines does for every step unless a policy overrides it: it retries throttling and service
# faults on its own (the retry policy's documented defaults: 1 s, backoff 2, at most 5 attempts).
# A Lambda step takes no RetryPolicies at all, so this is the only retry it gets.
SERVICE_DEFAULT = {"ExceptionType": list(STEP_ERRORS), "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5}


def effective_policies(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The step's own policies, then the service's default for the step errors none of them names."""
    named = {kind for policy in policies for kind in policy.get("ExceptionType", [])}
    rest = [kind for kind in STEP_ERRORS if kind not in named]
    return [*policies, {**SERVICE_DEFAULT, "ExceptionType": rest}] if rest else list(policies)


def policy_for(policies: list[dict[str, Any]], kind: str) -> int | None:
    """The index of the first policy that retries `kind`, or None."""
    return next((i for i, p in enumerate(policies) if kind in p.get("ExceptionType", [])), None)


def run_with_retries(
    attempt: Callable[[], dict[str, Any]],
    policies: list[dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    note: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """`attempt()` (a step's properties) until it succeeds or no policy lets it retry; the last failure is raised.

    `policies` are the step's RetryPolicies; the service's default retry of step errors is added.
    """
    policies = effective_policies(policies)
    started = clock()
    retries: dict[int, int] = {}
    while True:
        try:
            return attempt()
        except TransientFailure as failure:
            index = policy_for(policies, failure.kind)
            if index is None:
                raise
            policy, done = policies[index], retries.get(index, 0)
            wait = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** done
            if "MaxAttempts" in policy and done >= int(policy["MaxAttempts"]):
                raise TransientFailure(
                    failure.kind, f"still failing after {done} retries (MaxAttempts {policy['MaxAttempts']})"
                ) from failure
            if "ExpireAfterMin" in policy and clock() + wait - started > 60 * float(policy["ExpireAfterMin"]):
                raise TransientFailure(
                    failure.kind, f"still failing when retries expire (ExpireAfterMin {policy['ExpireAfterMin']})"
                ) from failure
            retries[index] = done + 1
            note(f"{failure.kind}: retry {done + 1} in {wait:g}s")
            sleep(wait)
