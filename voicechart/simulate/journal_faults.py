"""A journal that cannot write, for the tests and benchmarks that check nothing is acknowledged unstored:
its disk read-only (every new connection refuses writes) or full (storing an utterance fails as SQLite's
"database or disk is full" does). Each returns the function that ends the fault."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from voicechart.journal.store import Journal


def read_only(journal: Journal) -> Callable[[], None]:
    """Every new connection of the journal refuses writes, as a read-only disk (SQLite's query_only) or a
    server in read-only mode (PostgreSQL's default_transaction_read_only) does."""
    sqlite = journal.engine.dialect.name == "sqlite"

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        if sqlite:
            dbapi_conn.execute("PRAGMA query_only = ON")
        else:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.commit()

    journal.engine.dispose()
    event.listen(journal.engine, "connect", on_connect)

    def undo() -> None:
        event.remove(journal.engine, "connect", on_connect)
        journal.engine.dispose()

    return undo


def disk_full(journal: Journal) -> Callable[[], None]:
    """Storing an utterance fails as on a full disk."""

    def full(**_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    journal.record_utterance = full  # type: ignore[method-assign]
    return lambda: delattr(journal, "record_utterance")
