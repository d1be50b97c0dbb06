"""The audit log's hash chain: intact when only appended to, broken by any edit, removal or reordering,
and never forked by concurrent writers (threads, processes)."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from typer.testing import CliRunner

from voicechart.audit import verify
from voicechart.cli import app
from voicechart.journal.store import Journal


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    j = Journal(journal_url)
    yield j
    j.close()


def _fill(journal: Journal, n: int = 6) -> list[int]:
    for i in range(n):
        journal.audit(actor="voicechart", action="pms_write", object_type="measure", object_id=f"row {i}")
    return [e.id for e in journal.audit_events()]


def _sql(journal: Journal, statement: str) -> None:
    with journal.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_appended_chain_verifies_and_links_each_event_to_the_one_before(journal: Journal) -> None:
    ids = _fill(journal)
    events = journal.audit_events()
    assert events[0].prev_hash == ""
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert len({e.hash for e in events}) == len(ids)
    verdict = verify(journal.engine)
    assert verdict.intact and verdict.events == len(ids) and verdict.head == events[-1].hash


def test_an_edited_event_breaks_the_chain_at_that_event(journal: Journal) -> None:
    ids = _fill(journal)
    _sql(journal, f"UPDATE audit_event SET detail = 'nothing to see' WHERE id = {ids[2]}")
    verdict = verify(journal.engine)
    assert verdict.broken_at == ids[2] and "edited" in verdict.reason and verdict.events == 2


def test_an_edit_with_its_hash_recomputed_still_breaks_the_link_after_it(journal: Journal) -> None:
    from voicechart.audit import event_hash

    ids = _fill(journal)
    row = journal.audit_events()[2]
    forged = event_hash(
        row.prev_hash, at=row.at, actor="someone else", action=row.action, object_type=row.object_type,
        object_id=row.object_id, detail=row.detail,
    )  # fmt: skip
    _sql(journal, f"UPDATE audit_event SET actor = 'someone else', hash = '{forged}' WHERE id = {ids[2]}")
    assert verify(journal.engine).broken_at == ids[3]


def test_a_removed_event_breaks_the_chain_at_the_next_one(journal: Journal) -> None:
    ids = _fill(journal)
    _sql(journal, f"DELETE FROM audit_event WHERE id = {ids[3]}")
    verdict = verify(journal.engine)
    assert verdict.broken_at == ids[4] and "removed or moved" in verdict.reason


def test_reordered_events_break_the_chain(journal: Journal) -> None:
    ids = _fill(journal)
    a, b = ids[1], ids[4]
    _sql(journal, f"UPDATE audit_event SET id = -1 WHERE id = {a}")
    _sql(journal, f"UPDATE audit_event SET id = {a} WHERE id = {b}")
    _sql(journal, f"UPDATE audit_event SET id = {b} WHERE id = -1")
    assert verify(journal.engine).broken_at == a


def test_rows_from_before_the_chain_are_counted_and_a_blanked_hash_later_is_caught(journal: Journal) -> None:
    columns = "at, actor, action, object_type, object_id, detail, prev_hash, hash"
    old = "'2026-01-01 00:00:00.000000', 'old', 'pms_write', 'periomeasure', 'x', '', '', ''"
    _sql(journal, f"INSERT INTO audit_event ({columns}) VALUES ({old})")
    ids = _fill(journal, 3)
    verdict = verify(journal.engine)
    assert verdict.intact and verdict.unchained == 1 and verdict.events == 3
    _sql(journal, f"UPDATE audit_event SET hash = '', prev_hash = '' WHERE id = {ids[2]}")
    assert verify(journal.engine).broken_at == ids[2]


def test_threads_appending_at_once_keep_one_chain(journal: Journal) -> None:
    def work(n: int) -> None:
        for i in range(25):
            journal.audit(actor=f"thread {n}", action="view", object_type="utterance", object_id=str(i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = verify(journal.engine)
    assert verdict.intact and verdict.events == 100


def _append_from_another_process(url: str, n: int) -> None:
    journal = Journal(url)
    for i in range(20):
        journal.audit(actor=f"process {n}", action="view", object_type="utterance", object_id=str(i))
    journal.close()


def test_processes_appending_at_once_keep_one_chain(journal_url: str) -> None:
    url = journal_url
    Journal(url).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_from_another_process, args=(url, n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    journal = Journal(url)
    verdict = verify(journal.engine)
    journal.close()
    assert verdict.intact and verdict.events == 60


def test_audit_verify_command_exits_zero_when_intact_and_names_the_first_broken_event(
    journal: Journal, journal_url: str
) -> None:
    ids = _fill(journal, 4)
    url = journal_url
    ok = CliRunner().invoke(app, ["audit", "verify", "--journal", url])
    assert ok.exit_code == 0 and "4 events, chain intact" in ok.output
    _sql(journal, f"UPDATE audit_event SET detail = 'x' WHERE id = {ids[1]}")
    broken = CliRunner().invoke(app, ["audit", "verify", "--journal", url])
    assert broken.exit_code == 1 and f"BROKEN at event {ids[1]}" in broken.output


def test_audit_verify_only_reads_and_says_when_there_is_nothing_to_verify(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere.sqlite3'}"
    out = CliRunner().invoke(app, ["audit", "verify", "--journal", missing])
    assert out.exit_code == 2 and "No journal at" in out.output
    assert not (tmp_path / "nowhere.sqlite3").exists()  # nothing created
    old = tmp_path / "old.sqlite3"
    engine = sa.create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0003')"))
    engine.dispose()
    before = old.read_bytes()
    out = CliRunner().invoke(app, ["audit", "verify", "--journal", f"sqlite:///{old}"])
    assert out.exit_code == 2 and "older than this voicechart" in out.output
    assert old.read_bytes() == before  # not upgraded behind the reader's back
