"""The README is a quickstart that fits a screen's width, and every page it sends a reader to is there.

What the pages say is checked where the code is: the --json keys in test_local.py, the pipelines
diagram in test_pipelines.py, the rooms and doors in test_architecture.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import SRC

ROOT = SRC.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
WIDTH = 120
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text()) if not re.match(r"\w+://", target)]


def test_the_readme_is_a_quickstart_no_wider_than_a_screen():
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines: move the detail to a page under docs/"
    wide = [f"README.md:{number}: {len(line)}" for number, line in enumerate(lines, 1) if len(line) > WIDTH]
    assert not wide, f"lines wider than {WIDTH}: {wide}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_each_pages_prose_is_no_wider_than_a_screen(page):
    # A table row cannot wrap in Markdown; everything else can.
    lines = page.read_text().splitlines()
    wide = [number for number, line in enumerate(lines, 1) if len(line) > WIDTH and not line.startswith("|")]
    assert not wide, f"{page.name}: lines wider than {WIDTH}: {wide}"


def test_the_readme_sends_the_reader_to_every_page():
    linked = {(README.parent / target.split("#")[0]).resolve() for target in links(README)}
    assert {page.resolve() for page in PAGES} <= linked, "a page under docs/ that the README never links"
    assert {"pipelines.md", "local-mode.md", "contracts.md", "deploying.md", "accounts.md"} <= {p.name for p in PAGES}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda page: page.name)
def test_every_link_reaches_a_file_and_a_heading_in_it(page):
    for target in links(page):
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links {target}: no such file"
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked), f"{page.name} links {target}: no such heading in {linked.name}"
