"""SIGKILL mid-exam: the process is killed at random points while replaying a sample exam through the real
pipeline, restarted each time on the same recording, and the PMS ends with exactly the dictated chart —
nothing lost, nothing duplicated, nothing left waiting, the audit chain intact. (`bench reliability` does
the same fifty times and more.)"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from voicechart.accuracy import expected_cells
from voicechart.pms.sandbox.seed import DEMO_PATIENTS
from voicechart.settings import SAMPLES_DIR
from voicechart.simulate.crash import AfterUtterances, kill_and_finish, outcome

pytestmark = [pytest.mark.model, pytest.mark.e2e]


def test_killed_three_times_mid_exam_the_pms_ends_with_exactly_the_dictated_chart(
    tmp_path: Path, journal_url: str
) -> None:
    """On the SQLite journal in the data directory and on a PostgreSQL journal (a clinic group's server)."""
    entry = SAMPLES["a-piper-joe"]
    missing = set(entry["patient"]["missing_teeth"])
    patient = next(p for p in DEMO_PATIENTS if set(p.missing_teeth) | set(p.hidden_teeth) == missing)
    rng = random.Random(14)
    # killed between one and three utterances into each run, at any moment of the next one (a fixed delay
    # lands after a fast machine has finished the exam)
    kills = [AfterUtterances(rng.randint(1, 3), rng.uniform(0.0, 0.8)) for _ in range(3)]
    runs = kill_and_finish(
        SAMPLES_DIR / entry["audio"], patient.pat_num, tmp_path, kills, journal_url=journal_url
    )
    dictated = expected_cells(entry["expected_chart"])
    result = outcome(tmp_path, patient.pat_num, dictated, runs, journal_url=journal_url)
    assert result.kills >= 2, runs  # the exam was really interrupted
    assert result.lost == () and result.extra == (), (result.lost, result.extra)
    assert result.duplicate_rows == 0 and result.exams == 1
    assert result.edits > 0  # the journal checked is the one the runs wrote
    assert result.pending == 0 and result.rejected == 0 and result.audit_intact
