"""Fixtures shared by the quality tests: the two synthetic worlds and their session builds.

A test module that takes `generator` (or `build`) runs once per world, planted then longtail;
`build` is that world's session build (tests/conftest.py: `build_dir`, `longtail_build_dir`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

GENERATORS = ("planted", "longtail")
BUILD_FIXTURE = {"planted": "build_dir", "longtail": "longtail_build_dir"}


@pytest.fixture(scope="module", params=GENERATORS)
def generator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def build(request: pytest.FixtureRequest, generator: str) -> Path:
    return Path(request.getfixturevalue(BUILD_FIXTURE[generator]))
