"""Shared by the settings tests: the error a bad environment variable gives, checked once."""

from __future__ import annotations

import pytest

from deploy.settings_base import EnvSettings
from deploy.triton.errors import LaunchError


def bad_variable_error(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[EnvSettings],
    error_type: type[LaunchError],
    name: str,
    value: str,
) -> str:
    """``settings.from_env()`` with ``name=value``: the one-line message of its exit-2 error."""
    monkeypatch.setenv(name, value)
    with pytest.raises(error_type) as error:
        settings.from_env()
    message = str(error.value)
    assert error.value.exit_code == 2 and "\n" not in message
    assert message.startswith(f"{name}: ")
    return message
