"""Kill the process mid-exam and check what the PMS ends with: the harness of the SIGKILL test and benchmark.

A sample recording is replayed with `voicechart replay` in a child process, which is SIGKILLed after a
random delay, restarted on the same recording, killed again …, and finally left to finish. Then the PMS
(the sandbox database) is compared with the chart that was dictated: cells lost or changed, rows or exams
duplicated, edits still waiting or refused in the journal, and whether the audit chain is intact.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from voicechart.accuracy import charted_cells
from voicechart.audit import verify
from voicechart.journal.store import Journal
from voicechart.pms.sandbox import SandboxConnector, create_sandbox, seed_demo


@dataclass(frozen=True, slots=True)
class Run:
    killed: bool  # SIGKILLed (else it finished by itself)
    seconds: float  # from launch to its end
    first_output_s: float | None  # from launch to its first utterance out (the pipeline working again)
    max_rss_kb: int
    returncode: int


@dataclass(frozen=True, slots=True)
class AfterUtterances:
    """A kill point tied to the child's progress rather than the clock: `seconds` after it has reported its
    `utterances`-th utterance of this run. A machine twice as fast is then killed at the same place in the
    exam (a fixed delay can land after a fast machine has already finished)."""

    utterances: int
    seconds: float


KillPoint = float | AfterUtterances
"""Seconds after launch, or a point in the child's progress."""


@dataclass(frozen=True, slots=True)
class Outcome:
    runs: tuple[Run, ...]
    lost: tuple[str, ...]  # dictated cells the PMS does not hold (or holds with another value)
    extra: tuple[str, ...]  # cells the PMS holds that were not dictated
    duplicate_rows: int  # periomeasure rows beyond one per (exam, sequence type, tooth)
    exams: int  # perio exams of the patient today (one expected)
    pending: int  # edits and notes still waiting in the journal's outbox
    rejected: int  # edits the PMS refused
    edits: int  # chart edits journaled
    audit_intact: bool
    errors: tuple[str, ...] = field(default=())  # stderr lines of runs that failed other than by the kill

    @property
    def kills(self) -> int:
        return sum(r.killed for r in self.runs)

    @property
    def ok(self) -> bool:
        clean = self.pending == 0 and self.rejected == 0 and self.audit_intact and not self.errors
        return not self.lost and not self.extra and not self.duplicate_rows and self.exams == 1 and clean


def prepare(data_dir: Path, journal_url: str = "") -> dict[str, str]:
    """A fresh data directory with the demo sandbox; returns the environment the children run with. The
    journal is an SQLite file in the data directory unless `journal_url` names another (PostgreSQL)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{data_dir / 'sandbox-pms.sqlite3'}")
    try:
        create_sandbox(engine)
        seed_demo(engine, dt.date.today())
    finally:
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECHART_")}
    env["VOICECHART_DATA_DIR"] = str(data_dir)
    if journal_url:
        env["VOICECHART_JOURNAL_DATABASE_URL"] = journal_url
    return env


def journal_of(data_dir: Path, journal_url: str = "") -> Journal:
    """The journal the children write: `journal_url`, else the data directory's SQLite file."""
    return Journal(journal_url or f"sqlite:///{data_dir / 'journal.sqlite3'}")


def run_once(audio: Path, pat_num: int, env: Mapping[str, str], kill_at: KillPoint | None) -> Run:
    """One `voicechart replay`, SIGKILLed at `kill_at` unless it ends first."""
    command = [sys.executable, "-m", "voicechart", "replay", str(audio), "--patient", str(pat_num), "--json"]
    started = time.monotonic()
    proc = subprocess.Popen(command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_output: list[float] = []
    reported = 0  # utterances the child has reported (one JSON line each)
    due = kill_at if isinstance(kill_at, float | int) else None  # seconds after launch
    killed = False
    assert proc.stdout is not None and proc.stderr is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        out = proc.stdout.read()
        if out:
            first_output = first_output or [time.monotonic() - started]
            reported += out.count(b"\n")
        if isinstance(kill_at, AfterUtterances) and due is None and reported >= kill_at.utterances:
            due = time.monotonic() - started + kill_at.seconds
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if due is not None and time.monotonic() - started >= due:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    returncode = proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stdout.close()
    proc.stderr.close()
    seconds = time.monotonic() - started
    run = Run(killed, seconds, first_output[0] if first_output else None, usage.ru_maxrss, returncode)
    if not killed and returncode != 0:
        raise RuntimeError(f"replay failed ({returncode}): {stderr.strip()[-2000:]}")
    return run


def kill_and_finish(
    audio: Path, pat_num: int, data_dir: Path, kill_after: Sequence[KillPoint], *, journal_url: str = ""
) -> tuple[Run, ...]:
    """In a fresh data directory: replay, SIGKILL at each kill point in turn (restarting each time), then let
    the last run finish. A run that ends before its kill ends the exam."""
    env = prepare(data_dir, journal_url)
    runs: list[Run] = []
    for delay in [*kill_after, None]:
        runs.append(run_once(audio, pat_num, env, delay))
        if not runs[-1].killed or _ended(journal_of(data_dir, journal_url)):
            break  # it finished before the kill (or was killed on its way out): the exam is done
    return tuple(runs)


def _ended(journal: Journal) -> bool:
    """Whether the newest session in the journal ended (the exam was over before the process died)."""
    try:
        with journal.engine.connect() as conn:
            ended = conn.execute(
                sa.text("SELECT ended_at IS NOT NULL FROM exam_session ORDER BY id DESC LIMIT 1")
            ).scalar()
    finally:
        journal.close()
    return bool(ended)


def pms_cells(data_dir: Path, pat_num: int) -> dict[str, int]:
    """The chart cells of the patient's latest exam in the sandbox PMS of this data directory."""
    engine = sa.create_engine(f"sqlite:///{data_dir / 'sandbox-pms.sqlite3'}")
    connector = SandboxConnector(engine)
    try:
        exam = connector.previous_exam(pat_num, dt.date.today() + dt.timedelta(days=1))
        return charted_cells(connector.read_chart(exam.exam_num)) if exam is not None else {}
    finally:
        connector.close()
        engine.dispose()


def outcome(
    data_dir: Path, pat_num: int, dictated: Mapping[str, int], runs: tuple[Run, ...], *, journal_url: str = ""
) -> Outcome:
    """What the PMS and the journal hold after the runs, against the dictated chart's cells."""
    held = pms_cells(data_dir, pat_num)
    engine = sa.create_engine(f"sqlite:///{data_dir / 'sandbox-pms.sqlite3'}")
    try:
        with engine.connect() as conn:
            duplicates = conn.execute(
                sa.text(
                    "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM periomeasure "
                    "GROUP BY PerioExamNum, SequenceType, IntTooth) AS g"
                )
            ).scalar_one()
            exams = conn.execute(
                sa.text("SELECT COUNT(*) FROM perioexam WHERE PatNum = :p AND ExamDate = :d"),
                {"p": pat_num, "d": dt.date.today()},
            ).scalar_one()
    finally:
        engine.dispose()
    journal = journal_of(data_dir, journal_url)
    try:
        pending = len(journal.pending_edits()) + len(journal.pending_notes())
        rejected = len(journal.rejected_edits())
        with journal.engine.connect() as conn:
            edits = conn.execute(sa.text("SELECT COUNT(*) FROM chart_edit")).scalar_one()
        intact = verify(journal.engine).intact
    finally:
        journal.close()
    lost = tuple(sorted(k for k, v in dictated.items() if held.get(k) != v))
    extra = tuple(sorted(k for k in held if k not in dictated))
    return Outcome(runs, lost, extra, int(duplicates), int(exams), pending, rejected, int(edits), intact)
