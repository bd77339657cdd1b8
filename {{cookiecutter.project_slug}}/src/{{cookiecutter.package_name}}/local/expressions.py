"""Resolve the pipeline definition's expressions: Get, Std:Join, Std:JsonGet and conditions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(r"\.?(\w+)|\['([^']*)'\]|\[(\d+)\]")


class ExpressionError(ValueError):
    """An expression refers to something that does not exist (yet)."""


def path_tokens(path: str) -> list[str | int]:
    """Steps.A.Outputs['x'].S3Uri -> ['Steps', 'A', 'Outputs', 'x', 'S3Uri']."""
    tokens: list[str | int] = []
    position = 0
    for match in TOKEN.finditer(path):
        if match.start() != position:
            raise ExpressionError(f"Cannot parse property path {path!r} at {path[position:]!r}")
        name, key, index = match.groups()
        tokens.append(int(index) if index is not None else (key if key is not None else name))
        position = match.end()
    if position != len(path):
        raise ExpressionError(f"Cannot parse property path {path!r}")
    return tokens


def walk(value: Any, tokens: list[str | int], where: str) -> Any:
    for token in tokens:
        try:
            value = value[token]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExpressionError(
                f"{where}: no {token!r} (have {list(value)[:10] if isinstance(value, dict) else value!r})"
            ) from exc
    return value


def json_path(document: Any, path: str) -> Any:
    """The JsonGet subset of JSONPath: dotted keys and [index]."""
    return walk(document, path_tokens(path), f"JSON path {path!r}")


class Resolver:
    """Resolves expressions against parameters, execution variables and step properties."""

    def __init__(self, lookup: Callable[[list[str | int], str], Any]) -> None:
        self.lookup = lookup

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self.lookup(path_tokens(value["Get"]), value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(self(join["On"])).join(_text(self(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            document = self(spec["PropertyFile"])
            return json_path(document, self(spec["Path"]))
        return {k: self(v) for k, v in value.items()}

    def condition(self, condition: dict[str, Any]) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self.condition(condition["Expression"])
        if kind == "Or":
            return any(self.condition(c) for c in condition["Conditions"])
        if kind == "In":
            return self(condition["QueryValue"]) in [self(v) for v in condition["Values"]]
        left, right = self(condition["LeftValue"]), self(condition["RightValue"])
        comparisons = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b,
            "LessThan": lambda a, b: a < b,
            "LessThanOrEqualTo": lambda a, b: a <= b,
        }
        if kind not in comparisons:
            raise ExpressionError(f"Condition type {kind!r} is not supported locally.")
        return bool(comparisons[kind](left, right))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
