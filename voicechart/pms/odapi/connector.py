"""PmsConnector over Open Dental's REST API (Local API, API Service or remote), with httpx.

Writes follow the API's rules (OPENDENTAL.md §4): a measure is looked up first and PUT if it exists, POSTed
if not, so a retried edit never duplicates a row; blank Mobility/SkipTooth rows are DELETEd (the only types
the API deletes), other blank rows are PUT with -1. New exams get what Open Dental's own "new exam" does
(§3.6): the patient's primary provider, and SkipTooth rows copied from the latest earlier exam, else from the
teeth marked missing in toothinitial. A clinical note is a completed clinical-note procedure and its procnote.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from voicechart.errors import PatientNotFound, PmsError, PmsNotFound, PmsRejected
from voicechart.pms.odapi import wire
from voicechart.pms.odapi.client import OpenDentalApi
from voicechart.pms.records import (
    BLANK,
    SCHEDULED_STATUSES,
    Appointment,
    ExamRecord,
    MeasureRow,
    Patient,
    SequenceType,
    appointment_now,
    provider_display_name,
)
from voicechart.pms.sandbox.connector import stored_values, validate_measure

_log = logging.getLogger("voicechart.pms.api")
DELETABLE = (SequenceType.MOBILITY, SequenceType.SKIP_TOOTH)
RowKey = tuple[SequenceType, int]


class OpenDentalApiConnector:
    def __init__(self, api: OpenDentalApi, *, clinical_note_code: str) -> None:
        self.api = api
        self.clinical_note_code = clinical_note_code
        # What each exam's rows hold, so a write needs no look-up first. Shared by every connector to this
        # Open Dental in the process (a station's operatories write each other's edits through the journal's
        # outbox): a cache of its own would go stale when another connector writes a row, and a write it
        # thought unnecessary would be lost.
        self._measures, self._measures_lock = _shared_rows(api.base_url)

    # --- reads ---------------------------------------------------------------------------------------------
    def get_patient(self, pat_num: int) -> Patient:
        try:
            data = self.api.get(f"patients/{pat_num}")
        except PmsNotFound:
            raise PatientNotFound(f"No patient with PatNum {pat_num} in Open Dental") from None
        birthdate = wire.parse_date(data.get("Birthdate", "0001-01-01"), "Birthdate")
        return Patient(
            pat_num=int(data["PatNum"]),
            first_name=str(data.get("FName", "")),
            last_name=str(data.get("LName", "")),
            pri_prov=int(data.get("PriProv", 0)),
            birthdate=None if birthdate <= wire.NO_DATE else birthdate,
        )

    def appointment_in_operatory(self, operatory: int, at: dt.datetime) -> Appointment | None:
        rows = self.api.get_all("appointments", date=at.strftime(wire.DATE_FORMAT), Op=operatory)
        scheduled = [
            Appointment(
                apt_num=int(r["AptNum"]),
                pat_num=int(r["PatNum"]),
                operatory=int(r["Op"]),
                start=wire.parse_datetime(r["AptDateTime"], "AptDateTime"),
                minutes=5 * len(str(r.get("Pattern", ""))),
                prov_num=int(r.get("ProvNum", 0)),
                prov_hyg=int(r.get("ProvHyg", 0)),
            )
            for r in rows
            if wire.value_of(wire.APT_STATUS, r.get("AptStatus"), "AptStatus") in SCHEDULED_STATUSES
        ]
        return appointment_now(scheduled, at)

    def provider_names(self) -> dict[int, str]:
        return {
            int(r["ProvNum"]): provider_display_name(r.get("FName"), r.get("LName"), r.get("Abbr"))
            for r in self.api.get_all("providers")
        }

    def missing_teeth(self, pat_num: int) -> frozenset[int]:
        rows = self.api.get_all("toothinitials", PatNum=pat_num)
        return frozenset(
            int(r["ToothNum"])
            for r in rows
            if r.get("InitialType") in ("Missing", "Hidden")
            and str(r.get("ToothNum", "")).isdigit()
            and 1 <= int(r["ToothNum"]) <= 32
        )

    def previous_exam(self, pat_num: int, before: dt.date) -> ExamRecord | None:
        earlier = [e for e in self._exams(pat_num) if e.exam_date < before]
        if not earlier:
            return None
        latest = max(earlier, key=lambda e: (e.exam_date, e.exam_num))
        return self._with_measures(latest)

    def read_chart(self, exam_num: int) -> dict[SequenceType, dict[int, MeasureRow]]:
        chart: dict[SequenceType, dict[int, MeasureRow]] = {st: {} for st in SequenceType}
        for _num, row in sorted(self._measure_rows(exam_num), key=lambda x: x[0]):
            if not row.records_nothing():
                chart[row.sequence_type][row.tooth] = row
        return chart

    def same_day_exams(self, exam_num: int) -> list[int]:
        exam = _exam(self.api.get(f"perioexams/{exam_num}"))
        same_day = (e.exam_num for e in self._exams(exam.pat_num) if e.exam_date == exam.exam_date)
        return sorted(n for n in same_day if n != exam_num)

    # --- writes --------------------------------------------------------------------------------------------
    def open_exam(self, pat_num: int, exam_date: dt.date) -> ExamRecord:
        patient = self.get_patient(pat_num)
        same_day = [e for e in self._exams(pat_num) if e.exam_date == exam_date]
        if same_day:
            exam = self._with_measures(max(same_day, key=lambda e: e.exam_num))
            if exam.measures:
                _log.info("resuming perio exam %d for patient %d", exam.exam_num, pat_num)
                return exam
            created = exam  # empty: perhaps our own creation that was cut short; give it its skips
        else:
            data = self.api.post(
                "perioexams",
                {
                    "PatNum": pat_num,
                    "ExamDate": exam_date.strftime(wire.DATE_FORMAT),
                    "ProvNum": patient.pri_prov,
                },
            )
            created = _exam(data)
            _log.info("created perio exam %d for patient %d", created.exam_num, pat_num)
        previous = self.previous_exam(pat_num, exam_date)
        skipped = previous.skipped_teeth if previous else self.missing_teeth(pat_num)
        for tooth in sorted(skipped):
            self.upsert_measure(created.exam_num, MeasureRow(SequenceType.SKIP_TOOTH, tooth, tooth_value=1))
        return self._with_measures(created)

    def upsert_measure(self, exam_num: int, row: MeasureRow) -> None:
        try:
            validate_measure(row)
        except PmsError as exc:
            raise PmsRejected(str(exc)) from None
        desired = stored_values(row)
        key = (row.sequence_type, row.tooth)
        with self._measures_lock:
            try:
                self._upsert(exam_num, key, row, desired)
            except PmsError:
                self._measures.pop(exam_num, None)  # what happened is unknown: look again before the retry
                raise

    def append_exam_note(self, exam_num: int, text: str) -> None:
        text = text.strip()
        if not text:
            return
        note = str(self.api.get(f"perioexams/{exam_num}").get("Note", ""))
        if note.rstrip().endswith(text) or _spaced(note).rstrip().endswith(_spaced(text)):
            return  # a retry of a note that did reach Open Dental
        separator = "" if not note or note.endswith("\n") else "\r\n"
        self.api.put(f"perioexams/{exam_num}", {"Note": note + separator + text})

    def write_clinical_note(self, pat_num: int, note_date: dt.date, text: str, *, prov_num: int = 0) -> int:
        day = note_date.strftime(wire.DATE_FORMAT)
        procedures = {
            int(p["ProcNum"]): p
            for p in self.api.get_all("procedurelogs", PatNum=pat_num)
            if p.get("ProcDate") == day and p.get("procCode") == self.clinical_note_code
        }
        if procedures:
            for note in self.api.get_all("procnotes", PatNum=pat_num):
                if int(note["ProcNum"]) in procedures and _spaced(str(note["Note"])) == _spaced(text):
                    return int(note["ProcNum"])  # already there: a retry
        body: dict[str, Any] = {
            "PatNum": pat_num,
            "ProcDate": day,
            "ProcStatus": "C",
            "procCode": self.clinical_note_code,
        }
        if prov_num:
            body["ProvNum"] = prov_num
        proc_num = int(self.api.post("procedurelogs", body)["ProcNum"])
        self.api.post("procnotes", {"PatNum": pat_num, "ProcNum": proc_num, "Note": text, "isSigned": "true"})
        return proc_num

    def amend_clinical_note(self, pat_num: int, proc_num: int, text: str) -> None:
        notes = [n for n in self.api.get_all("procnotes", PatNum=pat_num) if int(n["ProcNum"]) == proc_num]
        if notes and _spaced(str(notes[0]["Note"])) == _spaced(text):
            return  # most recent first: the correction is already there (a retry)
        self.api.post("procnotes", {"PatNum": pat_num, "ProcNum": proc_num, "Note": text, "isSigned": "true"})

    def close(self) -> None:
        self.api.close()

    # --- internals -----------------------------------------------------------------------------------------
    def _exams(self, pat_num: int) -> list[ExamRecord]:
        return [_exam(e) for e in self.api.get_all("perioexams", PatNum=pat_num)]

    def _with_measures(self, exam: ExamRecord) -> ExamRecord:
        chart = self.read_chart(exam.exam_num)
        measures = tuple(row for rows in chart.values() for row in rows.values())
        return ExamRecord(exam.exam_num, exam.pat_num, exam.exam_date, exam.prov_num, exam.note, measures)

    def _measure_rows(self, exam_num: int) -> list[tuple[int, MeasureRow]]:
        with self._measures_lock:
            rows = self.api.get_all("periomeasures", PerioExamNum=exam_num)
            out = [(int(r["PerioMeasureNum"]), wire.measure_from_wire(r)) for r in rows]
            self._measures[exam_num] = {
                (row.sequence_type, row.tooth): (num, _values(row))
                for num, row in sorted(out, key=lambda x: x[0])
            }
            return out

    def _upsert(self, exam_num: int, key: RowKey, row: MeasureRow, desired: tuple[int, ...] | None) -> None:
        if exam_num not in self._measures:
            self._measure_rows(exam_num)
        known = self._measures[exam_num]
        existing = known.get(key)
        seq = key[0]
        if desired is None:
            if existing is None:
                return
            if seq in DELETABLE:
                self.api.delete(f"periomeasures/{existing[0]}")
                del known[key]
                return
            blank = (BLANK,) + ((0,) * 6 if seq is SequenceType.BLEED_SUP_PLAQ_CALC else (BLANK,) * 6)
            desired = blank
        if existing is not None:
            if existing[1] == desired:
                return
            self.api.put(f"periomeasures/{existing[0]}", dict(zip(wire.VALUE_FIELDS, desired, strict=True)))
            known[key] = (existing[0], desired)
            return
        body = wire.measure_to_wire(exam_num, row)
        body.update(zip(wire.VALUE_FIELDS, desired, strict=True))
        try:
            created = self.api.post("periomeasures", body)
        except PmsRejected:
            # Open Dental compares a new row "against existing periomeasures … to prevent duplicates": an
            # earlier POST of this row whose answer was lost (a timeout, a reset) may have landed after the
            # look-up. Look again: if the row is there now, make it what it should be; else the 400 stands.
            self._measure_rows(exam_num)
            landed = self._measures[exam_num].get(key)
            if landed is None:
                raise
            if landed[1] != desired:
                self.api.put(f"periomeasures/{landed[0]}", dict(zip(wire.VALUE_FIELDS, desired, strict=True)))
                self._measures[exam_num][key] = (landed[0], desired)
            return
        known[key] = (int(created["PerioMeasureNum"]), desired)


_ROWS_BY_PMS: dict[str, tuple[dict[int, dict[RowKey, tuple[int, tuple[int, ...]]]], threading.RLock]] = {}
_ROWS_BY_PMS_LOCK = threading.Lock()


def _shared_rows(
    base_url: str,
) -> tuple[dict[int, dict[RowKey, tuple[int, tuple[int, ...]]]], threading.RLock]:
    with _ROWS_BY_PMS_LOCK:
        return _ROWS_BY_PMS.setdefault(base_url, ({}, threading.RLock()))


def _exam(data: dict[str, Any]) -> ExamRecord:
    return ExamRecord(
        exam_num=int(data["PerioExamNum"]),
        pat_num=int(data["PatNum"]),
        exam_date=wire.parse_date(data["ExamDate"], "ExamDate"),
        prov_num=int(data.get("ProvNum", 0)),
        note=str(data.get("Note", "")),
    )


def _values(row: MeasureRow) -> tuple[int, ...]:
    return (row.tooth_value, *row.sites)


def _spaced(text: str) -> str:
    """Open Dental's serializer returns line breaks as spaces (OPENDENTAL.md §4.1): compare without them."""
    return " ".join(text.split())
