"""Shared fixtures: the samples manifest, one loaded Whisper model per test run, a fresh sandbox per test."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from voicechart.accuracy import charted_cells
from voicechart.journal.store import Journal
from voicechart.pms.records import SITE_COLUMNS, MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector, create_sandbox, seed_demo
from voicechart.settings import SAMPLES_DIR, Settings, load_settings

if TYPE_CHECKING:
    from tests.web_fixtures import Clinic

POSTGRES_URL = os.environ.get("VOICECHART_TEST_POSTGRES_URL", "")
MANIFEST = json.loads((SAMPLES_DIR / "manifest.json").read_text())
SAMPLES: dict[str, dict[str, Any]] = {s["id"]: s for s in MANIFEST["samples"]}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VOICECHART_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VOICECHART_PMS_URL", raising=False)
    s = load_settings()
    s.resolved_data_dir.mkdir(parents=True)
    return s


@pytest.fixture
def clinic(settings: Settings) -> Iterator[Clinic]:
    """A review app over a sandbox with a charted exam, a marked value, an unclear utterance and a note."""
    from tests.web_fixtures import open_clinic

    c = open_clinic(settings)
    yield c
    c.close()


@pytest.fixture(scope="session")
def transcriber() -> Iterator[Any]:
    from voicechart.runner import load_transcriber

    yield load_transcriber(load_settings())


def assert_pms_holds_what_was_charted(
    chart: dict[SequenceType, dict[int, MeasureRow]], results: Iterable[dict[str, Any]]
) -> None:
    """Every value the pipeline charted is in the PMS as charted, and nothing else is, but for the teeth
    the new exam skipped from the start (the patient's missing teeth, as Open Dental does)."""
    in_pms = charted_cells(chart)
    charted = cells_charted_by(results)
    assert {k: v for k, v in in_pms.items() if not k.startswith("skipped:")} == {
        k: v for k, v in charted.items() if not k.startswith("skipped:")
    }
    assert {k for k in charted if k.startswith("skipped:")} <= set(in_pms)


def cells_charted_by(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The chart cells the pipeline wrote, from its per-utterance JSON (the last edit of a row wins).
    Recognition differs between CPUs; what reaches the PMS must equal what the pipeline charted."""
    by_name = {s.api_name: s for s in SequenceType}
    chart: dict[SequenceType, dict[int, MeasureRow]] = {}
    for result in results:
        if result["status"] != "applied":
            continue
        for edit in result["edits"]:
            seq = by_name[edit["sequence_type"]]
            sites = tuple(edit["sites"][c] for c in SITE_COLUMNS)
            row = MeasureRow(seq, edit["tooth"], edit["tooth_value"], sites)  # type: ignore[arg-type]
            chart.setdefault(seq, {})[edit["tooth"]] = row
    return charted_cells(chart)


@pytest.fixture
def sandbox(tmp_path: Path, journal_url: str) -> Iterator[tuple[SandboxConnector, sa.Engine, Journal]]:
    """The seeded sandbox PMS and a journal, on SQLite and (when configured) on PostgreSQL."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pms.db'}")
    create_sandbox(engine)
    seed_demo(engine, dt.date.today())
    connector = SandboxConnector(engine)
    journal = Journal(journal_url)
    yield connector, engine, journal
    journal.close()
    connector.close()
    engine.dispose()


def fresh_postgres(url: str) -> str:
    """The PostgreSQL test database emptied (its public schema dropped and made again), for a journal."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL at {sa.make_url(url).host} is unreachable ({exc.orig})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"VOICECHART_TEST_POSTGRES_URL is set but {reason}")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL: set VOICECHART_TEST_POSTGRES_URL"),
        ),
    ]
)
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty journal database: an SQLite file, and the PostgreSQL test database when configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    return fresh_postgres(POSTGRES_URL)
