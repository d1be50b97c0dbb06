"""The journal: migrations, durable utterances with their edits, the outbox, the audit trail."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from voicechart.dictation.interpreter import interpret
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal, redact_url


def test_migrations_create_the_schema_and_are_repeatable(journal_url: str) -> None:
    url = journal_url
    Journal(url).close()
    journal = Journal(url)
    tables = set(inspect(journal.engine).get_table_names())
    assert {"exam_session", "utterance", "command", "chart_edit", "audit_event", "alembic_version"} <= tables
    journal.close()


def test_utterance_commands_and_edits_are_recorded_and_form_the_outbox(
    tmp_path: Path, journal_url: str
) -> None:
    journal = Journal(journal_url)
    sid = journal.start_session(pms_url="mysql+pymysql://root:secret@db/od", pat_num=7, model="tiny.en")
    result = interpret("3 2 4 bleeding distal")
    outcome = ExamSession().apply(result.commands)
    uid, edit_ids = journal.record_utterance(
        session_id=sid, seq=1, clip_path=tmp_path / "1.wav", audio_start_s=1.0, audio_end_s=2.0,
        text="3 2 4 bleeding distal", avg_logprob=-0.2, no_speech_prob=0.01, status="applied",
        flag_reason="", readback=outcome.readback, timings={}, commands=result.commands, edits=outcome.edits,
        exam_num=5,
    )  # fmt: skip
    assert len(edit_ids) == 2
    assert [e.id for e in journal.pending_edits(sid)] == edit_ids
    journal.mark_edit(edit_ids[0], committed=True)
    journal.mark_edit(edit_ids[1], committed=False, error="PMS down")
    pending = journal.pending_edits(sid)
    assert [(e.id, e.pms_error, e.attempts) for e in pending] == [(edit_ids[1], "PMS down", 1)]
    assert journal.utterances(sid)[0].id == uid
    journal.close()


def test_credentials_never_reach_the_journal() -> None:
    assert "secret" not in redact_url("mysql+pymysql://root:secret@db/od")


def test_migrations_go_down_to_nothing_and_up_again(journal_url: str) -> None:
    from alembic import command

    from voicechart.journal.store import alembic_config

    journal = Journal(journal_url)
    journal.audit(actor="t", action="a", object_type="o", object_id="1")
    cfg = alembic_config(journal.engine)
    with journal.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(journal.engine).get_table_names()) <= {"alembic_version"}
    journal.close()
    again = Journal(journal_url)
    assert {"exam_session", "audit_event", "app_user"} <= set(inspect(again.engine).get_table_names())
    again.close()


def test_the_migrations_build_exactly_the_tables_the_code_uses(journal_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from voicechart.journal.tables import Base

    journal = Journal(journal_url)
    with journal.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    journal.close()
    assert differences == []
