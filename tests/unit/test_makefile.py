"""The Makefile's targets: one .PHONY naming each, and `make help` naming each."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def targets() -> set[str]:
    names = re.findall(r"^([a-z][a-z0-9-]*):(?!=)", MAKEFILE.read_text(), flags=re.MULTILINE)
    return set(names)


def test_one_phony_line_names_every_target() -> None:
    text = MAKEFILE.read_text()
    phony = re.findall(r"^\.PHONY:((?:[^\n]*\\\n)*[^\n]*)", text, flags=re.MULTILINE)
    assert len(phony) == 1
    assert set(phony[0].replace("\\\n", " ").split()) == targets()


def test_help_names_every_target() -> None:
    shown = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "help"], capture_output=True, text=True, check=True
    ).stdout
    named = set(re.findall(r"make ([a-z][a-z0-9-]*)", shown))
    assert targets() - named == set()
