"""The code's shape: no application module over 300 lines, and the training packages the
design names."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "training", "deploy", "loadtests")
MAX_LINES = 300


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_300_lines(package: str) -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_training_is_split_into_its_packages() -> None:
    for name in ("data", "build", "evaluation", "ops"):
        assert (ROOT / "training" / name / "__init__.py").is_file()
        assert (ROOT / "tests" / "unit" / "training" / name / "__init__.py").is_file()
    assert sorted(p.name for p in (ROOT / "training").glob("*.py")) == [
        "__init__.py",
        "__main__.py",
        "cli.py",
        "errors.py",
        "settings.py",
    ]
