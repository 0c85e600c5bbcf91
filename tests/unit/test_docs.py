"""The Markdown documents: every relative link and anchor resolves, the README stays short, and no
document reads like a work journal (times of day, "this session").

Covers every *.md at the repository root and under docs/. Standard library only.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_BYTES = 15_000

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(?:<([^>]*)>|([^\s()]+))(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2} UTC\b")
THIS_SESSION = re.compile(r"\bthis session\b", re.IGNORECASE)


def markdown_files() -> list[Path]:
    return sorted(ROOT.glob("*.md")) + sorted((ROOT / "docs").rglob("*.md"))


def outside_code_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line not inside a fenced code block."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            lines.append((number, line))
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            if not line.strip().strip(fence[0]):
                fence = None
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, line in outside_code_blocks(path.read_text(encoding="utf-8")):
        match = ATX_HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_targets(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image outside code, relative ones and others."""
    targets: list[tuple[int, str]] = []
    for number, line in outside_code_blocks(path.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub("", line)
        for match in INLINE_LINK.finditer(prose):
            targets.append((number, match.group(1) or match.group(2)))
        definition = REFERENCE_DEFINITION.match(prose)
        if definition:
            targets.append((number, definition.group(1)))
    return targets


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in link_targets(path):
        if SCHEME.match(target):  # http, https, mailto, ...: not checked here
            continue
        target_path, _, anchor = target.partition("#")
        target_path = urllib.parse.unquote(target_path)
        resolved = (path.parent / target_path).resolve() if target_path else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{where}: {target_path} does not exist")
            continue
        if not anchor or resolved.suffix.lower() != ".md":
            continue
        if urllib.parse.unquote(anchor).lower() not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor} in {resolved.name}")
    return problems


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_the_documents_are_found() -> None:
    files = _ids(markdown_files())
    assert "README.md" in files
    assert any(name.startswith("docs/") for name in files)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("The page: what it recommends and why", "the-page-what-it-recommends-and-why"),
        ("A/B split of model versions", "ab-split-of-model-versions"),
        ("Reliability benchmark (`make reliability`)", "reliability-benchmark-make-reliability"),
        ("The collector's pauses", "the-collectors-pauses"),
        ("Settings of `make run` and the launchers", "settings-of-make-run-and-the-launchers"),
        ("Where [docs](docs/x.md) go", "where-docs-go"),
    ],
)
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


@pytest.mark.parametrize("path", markdown_files(), ids=_ids(markdown_files()))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


def test_readme_is_short() -> None:
    size = (ROOT / "README.md").stat().st_size
    assert (
        size <= README_MAX_BYTES
    ), f"README.md is {size} bytes, over {README_MAX_BYTES}: move reference material to docs/"


@pytest.mark.parametrize("path", markdown_files(), ids=_ids(markdown_files()))
def test_no_journal_wording(path: Path) -> None:
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for pattern in (TIME_OF_DAY, THIS_SESSION):
            for match in pattern.finditer(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not problems, (
        "state the command and the machine kind instead of when or in which session:\n"
        + "\n".join(problems)
    )
