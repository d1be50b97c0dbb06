"""A review app on a real journal and a real sandbox PMS, with an exam journaled the way the pipeline does it:
values charted, one marked for review, one utterance not charted, a clinical note in the PMS."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from starlette.testclient import TestClient

from voicechart.clips import write_clip
from voicechart.dictation.interpreter import interpret
from voicechart.exam.edits import ChartEdit
from voicechart.journal.store import Journal
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import create_sandbox
from voicechart.pms.sandbox.connector import SandboxConnector
from voicechart.pms.sandbox.seed import seed_demo
from voicechart.settings import Settings
from voicechart.web.accounts import Accounts
from voicechart.web.app import create_app

PASSWORD = "correct horse battery"
PATIENT = 2  # James Carter: the demo patient with a previous exam
HYGIENIST_PROV = 3


@dataclass
class Clinic:
    settings: Settings
    journal: Journal
    engine: sa.Engine
    connector: SandboxConnector
    outbox: Outbox
    session_id: int
    exam_num: int
    marked_edit: int
    unclear_utterance: int
    note_id: int
    note_passage: int
    app: object

    def close(self) -> None:
        self.journal.close()
        self.connector.close()
        self.engine.dispose()


def tone(seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def record(
    journal: Journal,
    clinic_dir: Path,
    session_id: int,
    seq: int,
    text: str,
    *,
    exam_num: int,
    status: str = "applied",
    edits: tuple[ChartEdit, ...] = (),
    flag: str = "",
) -> tuple[int, list[int]]:
    clip = write_clip(clinic_dir / f"session-{session_id}" / f"{seq:05d}.wav", tone())
    commands = interpret(text).commands if status == "applied" else ()
    return journal.record_utterance(
        session_id=session_id,
        seq=seq,
        clip_path=clip,
        audio_start_s=seq,
        audio_end_s=seq + 0.6,
        text=text,
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        status=status,
        flag_reason=flag,
        readback="",
        timings={"speech_end_to_applied_ms": 400.0 + seq},
        commands=commands,
        edits=edits,
        exam_num=exam_num,
        pat_num=PATIENT,
    )


def open_clinic(settings: Settings) -> Clinic:
    url = settings.resolved_pms_url
    engine = sa.create_engine(url)
    create_sandbox(engine)
    seed_demo(engine, dt.date.today())
    connector = SandboxConnector(engine)
    journal = Journal(settings.journal_url)
    exam = connector.open_exam(PATIENT, dt.date.today())
    sid = journal.start_session(
        pms_url=url, pat_num=PATIENT, model="tiny.en", operatory=1, prov_num=HYGIENIST_PROV
    )
    journal.set_exam(sid, exam.exam_num)
    clips = settings.clips_dir
    row3 = MeasureRow(SequenceType.PROBING, 3, sites=(2, 2, 3, -1, -1, -1))
    record(
        journal,
        clips,
        sid,
        1,
        "3 2 2",
        exam_num=exam.exam_num,
        edits=(ChartEdit(SequenceType.PROBING, 3, None, row3),),
    )
    row4 = MeasureRow(SequenceType.PROBING, 4, sites=(7, 3, 3, -1, -1, -1))
    _, marked = record(
        journal,
        clips,
        sid,
        2,
        "3 3 7",
        exam_num=exam.exam_num,
        edits=(ChartEdit(SequenceType.PROBING, 4, None, row4, flagged="the recognizer was unsure"),),
    )
    unclear, _ = record(
        journal,
        clips,
        sid,
        3,
        "three tree for",
        exam_num=exam.exam_num,
        status="flagged",
        flag="tooth 5 facial: not heard clearly",
    )
    passage, _ = record(
        journal,
        clips,
        sid,
        4,
        "patient reports no pain plan recall in 3 months",
        exam_num=exam.exam_num,
        status="note",
    )
    note_id = journal.add_note(
        kind="clinical_note",
        pat_num=PATIENT,
        text="Patient reports no pain. Plan: recall in three months.",
        note_date=dt.date.today(),
        prov_num=1,
        session_id=sid,
        raw_text="patient reports no pain plan recall in 3 months",
        corrections=[("3", "three")],
    )
    outbox = Outbox(journal, SandboxConnector(engine), pms_url=url)
    outbox.drain()
    accounts = Accounts(journal)
    accounts.add("lead", "clinic_lead", PASSWORD)
    accounts.add("hanna", "hygienist", PASSWORD, prov_num=HYGIENIST_PROV)
    accounts.add("other", "hygienist", PASSWORD, prov_num=99)
    app = create_app(settings, journal=journal, connect=lambda: SandboxConnector(engine), outbox=outbox)
    return Clinic(
        settings,
        journal,
        engine,
        connector,
        outbox,
        sid,
        exam.exam_num,
        marked[0],
        unclear,
        note_id,
        passage,
        app,
    )


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/login", data={"csrf": token.group(1), "name": name, "password": password}, follow_redirects=False
    ).status_code


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert found is not None
    return found.group(1)


def client_for(clinic: Clinic) -> Iterator[TestClient]:
    with TestClient(clinic.app, base_url="https://testserver") as client:  # type: ignore[arg-type]
        yield client


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` signed by its own key, as PEM files: (certificate, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "review.crt", directory / "review.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
