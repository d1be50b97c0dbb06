"""Reads with SQL, writes through the API: Open Dental allows third parties to read its database directly but
to change it only through its API (OPENDENTAL.md §1). Reading the schedule, patients, exams and missing teeth
over a read-only MariaDB connection is faster than the API, and is not throttled in remote mode."""

from __future__ import annotations

import datetime as dt

from voicechart.pms.odapi.connector import OpenDentalApiConnector
from voicechart.pms.records import Appointment, ExamRecord, MeasureRow, Patient, SequenceType
from voicechart.pms.sandbox.connector import SandboxConnector


class SqlReadApiWriteConnector:
    def __init__(self, reader: SandboxConnector, writer: OpenDentalApiConnector) -> None:
        self.reader = reader
        self.writer = writer

    # reads: SQL
    def get_patient(self, pat_num: int) -> Patient:
        return self.reader.get_patient(pat_num)

    def appointment_in_operatory(self, operatory: int, at: dt.datetime) -> Appointment | None:
        return self.reader.appointment_in_operatory(operatory, at)

    def provider_names(self) -> dict[int, str]:
        return self.reader.provider_names()

    def missing_teeth(self, pat_num: int) -> frozenset[int]:
        return self.reader.missing_teeth(pat_num)

    def previous_exam(self, pat_num: int, before: dt.date) -> ExamRecord | None:
        return self.reader.previous_exam(pat_num, before)

    def read_chart(self, exam_num: int) -> dict[SequenceType, dict[int, MeasureRow]]:
        return self.reader.read_chart(exam_num)

    def same_day_exams(self, exam_num: int) -> list[int]:
        return self.reader.same_day_exams(exam_num)

    # writes: the API
    def open_exam(self, pat_num: int, exam_date: dt.date) -> ExamRecord:
        return self.writer.open_exam(pat_num, exam_date)

    def upsert_measure(self, exam_num: int, row: MeasureRow) -> None:
        self.writer.upsert_measure(exam_num, row)

    def append_exam_note(self, exam_num: int, text: str) -> None:
        self.writer.append_exam_note(exam_num, text)

    def write_clinical_note(self, pat_num: int, note_date: dt.date, text: str, *, prov_num: int = 0) -> int:
        return self.writer.write_clinical_note(pat_num, note_date, text, prov_num=prov_num)

    def amend_clinical_note(self, pat_num: int, proc_num: int, text: str) -> None:
        self.writer.amend_clinical_note(pat_num, proc_num, text)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()
