"""The outbox: delivers what the journal holds for the PMS — chart edits and notes — in order, retrying.

Everything is in the journal before the PMS is touched; the outbox only reads the journal and records each
attempt there, so a crash or a restart loses nothing: the next outbox (the next `listen`, or `voicechart
outbox --flush`) picks up where this one stopped.

- Edits to the same periomeasure row that are still waiting are coalesced: each edit carries the whole row,
  so only the newest needs to be written, and rows are written in the order of their newest edit. When the API
  throttles (remote mode, 1 request/s), the chart catches up without dropping or reordering anything.
- A PMS that is down or throttling is retried with exponential backoff (capped, with jitter); a write the PMS
  refuses (400) is marked "rejected" with its reason for a person to look at, and the rest goes on.
- Every write that reaches the PMS is audited in the journal (numbers only, never names or note text).
- Several outboxes may drain one journal (one per operatory in a station, the review app's, a `listen` in
  another process): each claims what it writes (`Journal.claim`), all of a row's waiting edits or none, so two
  never write the same row at once (two POSTs of one periomeasure row would leave it twice in the PMS). A
  claim lapses after `CLAIM_LEASE_S`, so edits claimed by a process that died are written by another (at once
  when it died on this machine).
- Someone else's edit is never overwritten silently: before a row is written, the PMS's row must still be
  what the session last put there (or found there); if another user changed it meanwhile (in Open Dental,
  or another operatory charting the same patient), the edit is marked "rejected" as a conflict for a person
  to decide, and audited. One read of the exam's chart per pass.
- Open Dental saves a *second* exam when a user saves a chart that changed while it was open
  (DateTMeasureEdit, OPENDENTAL.md §3.6): their edits go to the new exam, voicechart's stay in its own.
  The outbox looks for another exam of the patient on the same day before it first writes an exam, and
  every `DUPLICATE_CHECK_S` while it writes; one it finds is recorded as an alert for a person (the
  journal's `pms_alert`, shown by `voicechart outbox`, at the end of `listen`/`replay` and in the review
  app's queue) and audited. Writing goes on to voicechart's own exam: nothing dictated is lost and nothing
  of theirs is overwritten.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicechart.errors import PmsError, PmsThrottled, PmsUnavailable
from voicechart.journal.claims import new_owner
from voicechart.journal.store import Journal
from voicechart.journal.tables import ChartEditRow, PmsNoteRow
from voicechart.pms.connector import PmsConnector
from voicechart.pms.records import MeasureRow, SequenceType, row_from_json
from voicechart.pms.sandbox.connector import stored_values

_log = logging.getLogger("voicechart.outbox")
ACTOR = "voicechart"
CLAIM_LEASE_S = 60.0  # longer than any one write may take (the API timeout is 10 s by default)
CONTENDED_RETRY_S = 0.1  # another outbox held some rows: look again this soon
CONFLICT = "changed in the PMS by someone else since voicechart read it: not overwritten"
DUPLICATE_CHECK_S = 30.0  # how often an exam being written is checked for a second exam beside it
DUPLICATE_EXAM = (
    "Open Dental holds a second perio exam for this patient on this day, made while voicechart wrote to its "
    "own (a user saved a chart that had changed while open): merge them in Open Dental's perio chart"
)


@dataclass(frozen=True, slots=True)
class DrainResult:
    written: int  # PMS writes made
    committed_edits: int  # journal edits now in the PMS (several per write when coalesced)
    pending: int  # still waiting
    error: str = ""  # why the pass stopped early, if it did
    contended: int = 0  # rows another outbox was writing (left to it; looked at again shortly)


def coalesce(edits: list[ChartEditRow]) -> list[list[ChartEditRow]]:
    """Pending edits grouped by (exam, sequence type, tooth), each group ending with its newest edit; the
    groups in the order of their newest edits."""
    groups: dict[tuple[int, int, int], list[ChartEditRow]] = {}
    for edit in sorted(edits, key=lambda e: e.id):
        groups.setdefault((edit.exam_num, edit.sequence_type, edit.tooth), []).append(edit)
    return sorted(groups.values(), key=lambda group: group[-1].id)


def measure_row(edit: ChartEditRow) -> MeasureRow:
    row = row_from_json(edit.sequence_type, edit.tooth, edit.after)
    assert row is not None, "an edit always has the row after it"
    return row


class Outbox:
    """Drains the journal's outbox into one PMS, in a background thread (`start`) or on demand (`drain`)."""

    def __init__(
        self,
        journal: Journal,
        connector: PmsConnector,
        *,
        pms_url: str,
        max_backoff_s: float = 30.0,
        on_commit: Callable[[list[int], float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        check_conflicts: bool = True,
        duplicate_check_s: float = DUPLICATE_CHECK_S,
    ) -> None:
        self.journal = journal
        self.connector = connector
        self.pms_url = pms_url  # only what was meant for this PMS goes to it
        self.max_backoff_s = max_backoff_s
        self.on_commit = on_commit
        self._sleep = sleep
        self.check_conflicts = check_conflicts
        self.duplicate_check_s = duplicate_check_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._last_exc: PmsUnavailable | None = None
        self.last_error = ""
        self.pending = 0
        self._lock = threading.Lock()  # one drain at a time
        self.owner = new_owner()  # this outbox's name on the rows it claims (machine, process, random)
        self._siblings_checked: dict[int, float] = {}  # exam → when it was last checked for a second exam

    # --- one pass ------------------------------------------------------------------------------------------
    def drain(self) -> DrainResult:
        """Write everything that is waiting, oldest first, until done or the PMS stops answering."""
        with self._lock:
            return self._drain()

    def _drain(self) -> DrainResult:
        written = committed = contended = 0
        charts: dict[int, dict[tuple[int, int], tuple[int, ...] | None]] = {}
        for group in coalesce(self.journal.pending_edits(pms_url=self.pms_url)):
            newest = group[-1]
            ids = [e.id for e in group]
            if not self.journal.claim("chart_edit", ids, self.owner, lease_s=CLAIM_LEASE_S):
                contended += 1
                continue
            try:
                if self.check_conflicts and self._conflict(group, charts):
                    self.journal.mark_edits(ids, status="rejected", error=CONFLICT)
                    self.journal.audit(
                        actor=ACTOR, action="pms_conflict", object_type="periomeasure", object_id=_key(newest)
                    )
                    _log.warning("edit %d (exam %d): %s", newest.id, newest.exam_num, CONFLICT)
                    continue
                self._look_for_a_second_exam(newest.exam_num)
                self.connector.upsert_measure(newest.exam_num, measure_row(newest))
            except PmsUnavailable as exc:
                self.journal.mark_edits(ids, status="pending", error=str(exc))
                return self._stopped(exc, written, committed)
            except PmsError as exc:
                self.journal.mark_edits(ids, status="rejected", error=str(exc))
                self.journal.audit(
                    actor=ACTOR,
                    action="pms_write_rejected",
                    object_type="periomeasure",
                    object_id=_key(newest),
                )
                _log.warning(
                    "the PMS refused edit %d (exam %d): %s", newest.id, newest.exam_num, type(exc).__name__
                )
                continue
            except BaseException:
                self.journal.release("chart_edit", ids, self.owner)  # for the next pass, not after the lease
                raise
            self.journal.mark_edits(ids, status="committed")
            self.journal.audit(
                actor=ACTOR,
                action="pms_write",
                object_type="periomeasure",
                object_id=_key(newest),
                detail=f"edits {','.join(map(str, ids))}",
            )
            written += 1
            committed += len(ids)
            if self.on_commit is not None:
                self.on_commit(ids, time.perf_counter())
        for note in self.journal.pending_notes(self.pms_url):
            if not self.journal.claim("pms_note", [note.id], self.owner, lease_s=CLAIM_LEASE_S):
                contended += 1
                continue
            try:
                ref = self._write_note(note)
            except PmsUnavailable as exc:
                self.journal.mark_note(note.id, status="pending", error=str(exc))
                return self._stopped(exc, written, committed)
            except PmsError as exc:
                self.journal.mark_note(note.id, status="rejected", error=str(exc))
                continue
            self.journal.mark_note(note.id, status="committed", ref=ref)
            self.journal.audit(
                actor=ACTOR, action="pms_write", object_type=note.kind, object_id=f"note {note.id}"
            )
            written += 1
        self._failures = 0
        self.last_error = ""
        self.pending = 0
        return DrainResult(written, committed, 0, contended=contended)

    def _conflict(
        self, group: list[ChartEditRow], charts: dict[int, dict[tuple[int, int], tuple[int, ...] | None]]
    ) -> bool:
        """Whether the PMS's row is neither what this session expects there (its last delivered edit of the
        row, else the row as the session found it) nor one of the writes it is making (a write whose answer
        was lost may have landed)."""
        newest = group[-1]
        exam = newest.exam_num
        key = (newest.sequence_type, newest.tooth)
        expected = self.journal.expected_row(newest.session_id, exam, newest.sequence_type, newest.tooth)
        blank = MeasureRow(SequenceType(newest.sequence_type), newest.tooth)
        known = {_normal(row_from_json(newest.sequence_type, newest.tooth, expected) or blank)}
        known |= {_normal(measure_row(edit)) for edit in group}  # any of these writes may have landed
        fresh = exam not in charts
        for _ in range(2):
            if exam not in charts:
                chart = self.connector.read_chart(exam)
                charts[exam] = {
                    (int(s), t): _normal(row) for s, rows in chart.items() for t, row in rows.items()
                }
            if charts[exam].get(key) in known:
                charts[exam][key] = _normal(measure_row(newest))  # what it will be after this write
                return False
            if fresh:
                return True
            # read earlier in this pass: another outbox may have written the row since; look again
            del charts[exam]
            fresh = True
        return True

    def _look_for_a_second_exam(self, exam_num: int) -> None:
        """Record (once) any other exam of the patient on the exam's day: Open Dental's answer to a chart
        that changed under a user (see the module's docstring)."""
        now = time.monotonic()
        checked = self._siblings_checked.get(exam_num)
        if checked is not None and now - checked < self.duplicate_check_s:
            return
        try:
            others = self.connector.same_day_exams(exam_num)
        except PmsUnavailable:
            raise  # the PMS is down: the write waits too, and both are tried again
        except PmsError as exc:  # a look-up the PMS refused must not hold up or refuse the write
            _log.warning("exam %d: could not look for a second exam (%s)", exam_num, type(exc).__name__)
            return
        for other in others:
            new = self.journal.add_alert(
                pms_url=self.pms_url, kind="duplicate_exam", exam_num=exam_num, other_num=other,
                detail=DUPLICATE_EXAM,
            )  # fmt: skip
            if new:
                self.journal.audit(
                    actor=ACTOR, action="pms_duplicate_exam", object_type="perioexam",
                    object_id=str(exam_num), detail=f"exam {other} on the same day",
                )  # fmt: skip
                _log.warning("exam %d: exam %d appeared on the same day (for a person)", exam_num, other)
        self._siblings_checked[exam_num] = now  # after the reads: a PMS that is down is asked again

    def _write_note(self, note: PmsNoteRow) -> int | None:
        if note.kind == "exam_note":
            if note.exam_num is None:
                raise PmsError("an exam note without an exam")
            self.connector.append_exam_note(note.exam_num, note.text)
            return None
        if note.supersedes is not None:
            original = self.journal.note(note.supersedes)
            if original.pms_ref is not None:
                self.connector.amend_clinical_note(note.pat_num, original.pms_ref, note.text)
                return original.pms_ref
            if original.pms_status == "pending":
                raise PmsUnavailable("the note this corrects is not in the PMS yet")
            # the original never reached the PMS (refused): the correction is the note
        if note.note_date is None:
            raise PmsError("a clinical note without a date")
        return self.connector.write_clinical_note(
            note.pat_num, note.note_date, note.text, prov_num=note.prov_num
        )

    def _stopped(self, exc: PmsUnavailable, written: int, committed: int) -> DrainResult:
        self._failures += 1
        self._last_exc = exc
        self.last_error = str(exc)
        self.pending = len(self.journal.pending_edits(pms_url=self.pms_url)) + len(
            self.journal.pending_notes(self.pms_url)
        )
        _log.warning("PMS unavailable (%s); %d waiting in the journal", type(exc).__name__, self.pending)
        return DrainResult(written, committed, self.pending, self.last_error)

    def waiting(self) -> int:
        """Edits and notes for this PMS still in the journal's outbox."""
        return len(self.journal.pending_edits(pms_url=self.pms_url)) + len(
            self.journal.pending_notes(self.pms_url)
        )

    def backoff_s(self, error: PmsUnavailable | None = None) -> float:
        if isinstance(error, PmsThrottled):
            return float(error.retry_after_s)
        base: float = min(self.max_backoff_s, 0.5 * 2.0 ** max(0, self._failures - 1))
        return base * random.uniform(0.8, 1.2)

    # --- background ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voicechart-outbox", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        """New work in the journal: write it now (unless backing off)."""
        self._wake.set()

    def stop(self, *, flush_timeout_s: float = 10.0) -> int:
        """Deliver what is waiting (up to the timeout), stop the thread; returns how many still wait."""
        deadline = time.monotonic() + flush_timeout_s
        while time.monotonic() < deadline:
            result = self.drain()
            if result.pending == 0 and not result.error:
                break
            self._sleep(min(self.backoff_s(self._last_exc), max(0.0, deadline - time.monotonic())))
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        return len(self.journal.pending_edits(pms_url=self.pms_url)) + len(
            self.journal.pending_notes(self.pms_url)
        )

    def wait_until_delivered(self, timeout_s: float) -> bool:
        """Block until nothing waits (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.journal.pending_edits(pms_url=self.pms_url) and not self.journal.pending_notes(
                self.pms_url
            ):
                return True
            self.kick()
            time.sleep(0.05)
        return False

    def _run(self) -> None:
        delay: float | None = None
        while not self._stop.is_set():
            self._wake.wait(timeout=delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                result = self.drain()
            except Exception:  # the journal itself failed: keep the thread alive, say so, try again later
                _log.exception("outbox pass failed")
                delay = self.max_backoff_s
                continue
            if result.error:
                delay = self._delay_after(result)
            else:
                delay = CONTENDED_RETRY_S if result.contended else None

    def _delay_after(self, result: DrainResult) -> float:
        return self.backoff_s(self._last_exc)


def _normal(row: MeasureRow) -> tuple[int, ...] | None:
    """A row as the PMS stores it; None for a row that records nothing (absent, all -1, no flags)."""
    return None if row.records_nothing() else stored_values(row)


def _key(edit: ChartEditRow) -> str:
    return f"exam {edit.exam_num} {SequenceType(edit.sequence_type).api_name} tooth {edit.tooth}"
