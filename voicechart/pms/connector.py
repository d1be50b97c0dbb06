"""The interface every PMS connector implements (sandbox in-process, Open Dental REST API, …)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from voicechart.pms.records import Appointment, ExamRecord, MeasureRow, Patient, SequenceType


class PmsConnector(Protocol):
    """Reads patients and exams, writes perio measures. Every write is idempotent and committed on return."""

    def get_patient(self, pat_num: int) -> Patient:
        """The patient, or raise PatientNotFound."""
        ...

    def appointment_in_operatory(self, operatory: int, at: dt.datetime) -> Appointment | None:
        """The scheduled (or completed) appointment in the operatory at `at` — else the next one that day,
        else the last one that day — or None when the operatory has no appointment that day."""
        ...

    def provider_names(self) -> dict[int, str]:
        """Every provider's name as the PMS shows it (first and last name, else the abbreviation)."""
        ...

    def missing_teeth(self, pat_num: int) -> frozenset[int]:
        """Universal numbers of permanent teeth marked Missing or Hidden in toothinitial."""
        ...

    def previous_exam(self, pat_num: int, before: dt.date) -> ExamRecord | None:
        """The latest exam dated before `before`, with its measures, or None."""
        ...

    def open_exam(self, pat_num: int, exam_date: dt.date) -> ExamRecord:
        """Resume the patient's exam dated `exam_date`, or create it as Open Dental does (OPENDENTAL.md §3.6):
        provider = patient's primary provider; skipped teeth copied from the latest earlier exam, else the
        missing teeth from toothinitial."""
        ...

    def upsert_measure(self, exam_num: int, row: MeasureRow) -> None:
        """Make the (exam, sequence type, tooth) row equal `row`: insert, update, or — for a blank
        Mobility/SkipTooth row — delete. Repeating the call changes nothing."""
        ...

    def append_exam_note(self, exam_num: int, text: str) -> None:
        """Append text to perioexam.Note, never overwriting what is there. If the note already ends with
        `text` (a retry), nothing changes."""
        ...

    def write_clinical_note(self, pat_num: int, note_date: dt.date, text: str, *, prov_num: int = 0) -> int:
        """A clinical note in the patient's progress notes: a completed clinical-note procedure dated
        `note_date` with `text` as its procnote (OPENDENTAL.md §2.8, §4.5). Returns the ProcNum. A retry of
        the same note on the same day finds the note already there and writes nothing."""
        ...

    def amend_clinical_note(self, pat_num: int, proc_num: int, text: str) -> None:
        """A corrected clinical note: a new signed procnote on the note's procedure. Open Dental keeps
        procnotes as history, so the earlier text stays; the newest procnote is the note. If the newest
        procnote already says `text` (a retry), nothing is written."""
        ...

    def read_chart(self, exam_num: int) -> dict[SequenceType, dict[int, MeasureRow]]:
        """Every measure row of the exam as the PMS holds it, by sequence type and tooth."""
        ...

    def same_day_exams(self, exam_num: int) -> list[int]:
        """The patient's other exams dated the same day as this one (PerioExamNum, ascending). Open Dental
        saves a second exam when a user's open chart was changed meanwhile (OPENDENTAL.md §3.6)."""
        ...

    def close(self) -> None: ...
