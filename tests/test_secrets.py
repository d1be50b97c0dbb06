"""Secrets come only from the environment or a private file outside the repository; default, placeholder
or empty keys are refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicechart.cli import app
from voicechart.errors import ConfigError
from voicechart.runner import open_connector
from voicechart.secrets import api_keys, read_secret
from voicechart.settings import PROJECT_DIR, Settings

REMOTE = "https://api.opendental.com/api/v1"
LOCAL = "http://127.0.0.1:30223/api/v1"
STRONG = ("Xk29fPq7LmZr", "Tb83nWe5Yu2s")


def _keys(monkeypatch: pytest.MonkeyPatch, developer: str, customer: str) -> None:
    monkeypatch.setenv("VOICECHART_OD_DEVELOPER_KEY", developer)
    monkeypatch.setenv("VOICECHART_OD_CUSTOMER_KEY", customer)


@pytest.mark.parametrize("keys", [("dev", "cust"), ("changeme", "secret"), ("short", "Tb83nWe5Yu2s")])
def test_placeholder_keys_are_refused_outside_development_even_on_this_machine(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, keys: tuple[str, str]
) -> None:
    _keys(monkeypatch, *keys)
    for url in (REMOTE, LOCAL):  # an office's Open Dental, or its Local API on this machine
        with pytest.raises(ConfigError, match="placeholder"):
            open_connector(url, settings)
    assert api_keys(development=True) == keys  # a development machine


def test_empty_keys_are_refused_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    _keys(monkeypatch, "", "")
    for development in (False, True):
        with pytest.raises(ConfigError, match="not set"):
            api_keys(development=development)


def test_real_keys_are_accepted(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    _keys(monkeypatch, *STRONG)
    open_connector(REMOTE, settings).close()


def test_a_sandbox_served_beyond_loopback_refuses_placeholder_keys(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    _keys(monkeypatch, "dev", "cust")
    result = CliRunner().invoke(app, ["pms", "serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "placeholder" in str(result.exception)


def test_a_key_file_must_be_private_and_outside_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VOICECHART_OD_DEVELOPER_KEY", raising=False)
    key = tmp_path / "developer.key"
    key.write_text(STRONG[0] + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("VOICECHART_OD_DEVELOPER_KEY_FILE", str(key))
    assert read_secret("VOICECHART_OD_DEVELOPER_KEY") == STRONG[0]
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        read_secret("VOICECHART_OD_DEVELOPER_KEY")
    monkeypatch.setenv("VOICECHART_OD_DEVELOPER_KEY_FILE", str(PROJECT_DIR / "pyproject.toml"))
    with pytest.raises(ConfigError, match="inside the repository"):
        read_secret("VOICECHART_OD_DEVELOPER_KEY")
