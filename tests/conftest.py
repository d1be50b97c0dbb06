"""Shared fixtures: the samples manifest, one loaded Whisper model per test run, a fresh sandbox per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voicechart.settings import SAMPLES_DIR, Settings, load_settings

MANIFEST = json.loads((SAMPLES_DIR / "manifest.json").read_text())
SAMPLES: dict[str, dict[str, Any]] = {s["id"]: s for s in MANIFEST["samples"]}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VOICECHART_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VOICECHART_PMS_URL", raising=False)
    s = load_settings()
    s.resolved_data_dir.mkdir(parents=True)
    return s


@pytest.fixture(scope="session")
def transcriber() -> Iterator[Any]:
    from voicechart.runner import load_transcriber

    yield load_transcriber(load_settings())
