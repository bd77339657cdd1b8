"""The rooms of the package and the doors between them, as docs/architecture.md draws them.

The tables in that page are the rules: this test reads them, reads every import in src/, and
fails on an import the page does not allow, or on a module that belongs to no room.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from {{ cookiecutter.package_name }} import job_environment

from .conftest import SRC

PACKAGE = "{{ cookiecutter.package_name }}"
PAGE = SRC.parent / "docs" / "architecture.md"
FOLDER_ROOMS = ("registry", "lambdas", "pipelines", "local", "custom_estimators")


def _rows(section: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return rows[2:]  # past the header and its rule


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def rules() -> tuple[dict[str, str], dict[str, set[str]]]:
    """(top-level module file -> room, room -> the rooms it may import), from the page's two tables."""
    text = PAGE.read_text("utf-8")
    rooms_section, doors_section = text.split("## The rooms")[1].split("## The doors")
    files = {}
    for room_cell, holds in _rows(rooms_section):
        for room in _names(room_cell):
            files |= {name: room for name in _names(holds) if re.fullmatch(r"\w+\.py", name)}
    doors = {}
    for room_cell, allowed in _rows(doors_section):
        for room in _names(room_cell):
            doors[room] = set(_names(allowed))
    return files, doors


def room_of(module: str, files: dict[str, str]) -> str | None:
    parts = module.split(".")[1:]
    if parts in ([], ["components"]):
        return "shared"  # the package's and the components package's __init__
    if parts[0] == "components" and len(parts) > 1:
        return f"components.{parts[1]}"
    if parts[0] in FOLDER_ROOMS:
        return parts[0]
    return files.get(f"{parts[0]}.py")


def modules() -> list[tuple[Path, str]]:
    """Every source file of the package, with its module's dotted name."""
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found.append((path, ".".join(parts[:-1] if path.name == "__init__.py" else parts)))
    return found


def imports() -> list[tuple[Path, str, str]]:
    """(file, its module, an imported module of this package) for every import in src/."""
    found = []
    for path, module in modules():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                if node.module:
                    found.append((path, module, ".".join([*base, node.module])))
                else:
                    found += [(path, module, ".".join([*base, alias.name])) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                found.append((path, module, node.module))
            elif isinstance(node, ast.Import):
                found += [(path, module, a.name) for a in node.names if a.name.startswith(PACKAGE)]
    return found


def test_every_module_is_in_a_room_the_page_names():
    files, doors = rules()
    homeless = sorted(str(path.relative_to(SRC)) for path, module in modules() if room_of(module, files) not in doors)
    assert not homeless, f"modules in no room of docs/architecture.md: {homeless}"
    assert set(files.values()) <= set(doors), "a room holds files but has no row of doors"


def test_every_import_goes_through_a_door_the_page_allows():
    files, doors = rules()
    crossings = set()
    for path, module, target in imports():
        mine, theirs = room_of(module, files), room_of(target, files)
        if theirs is None:
            crossings.add(f"{path.relative_to(SRC)} imports {target}, which is in no room")
        elif mine != theirs and theirs not in doors.get(mine, set()):
            crossings.add(f"{path.relative_to(SRC)} ({mine}) imports {target} ({theirs})")
    assert not crossings, "imports the doors of docs/architecture.md do not allow:\n" + "\n".join(sorted(crossings))


def test_the_page_reads_as_the_rules():
    """A control: the tables parse into the rooms this package has, so a reformatted page cannot pass silently."""
    files, doors = rules()
    assert {"shared", "local", "pipelines", "components.algorithm", "cli"} <= set(doors)
    assert files["container.py"] == "shared" and files["cli.py"] == "cli"
    assert "components.processing" in doors["components.algorithm"] and "local" not in doors["pipelines"]


def test_no_module_spells_a_job_variable_but_job_environment():
    """A step sets and its job reads each environment variable through job_environment.py's one name."""
    variables = {value for name, value in vars(job_environment).items() if name.isupper() and isinstance(value, str)}
    spelled = {}
    for path, _ in modules():
        if path.name == "job_environment.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and node.value in variables:
                spelled.setdefault(str(path.relative_to(SRC)), set()).add(node.value)
    assert variables and not spelled, f"variables spelled outside job_environment.py: {spelled}"
