"""The audit log as a hash chain: an event cannot be edited, removed or moved without `verify` noticing.

Each event's hash is SHA-256 over the previous event's hash followed by the event's canonical JSON (`at` in
UTC ISO form, actor, action, object type, object id, detail; sorted keys, no spaces). The first chained
event has an empty previous hash. Rows written before the chain existed (journal schema < 0004: empty
hashes) may precede it and are counted as unchained; an unchained row after the first chained one breaks it.

Appending reads the newest event and inserts the next one in one transaction that holds the chain's lock:
a process-wide thread lock, plus, across processes, SQLite's write lock (taken before the read), a table
lock on PostgreSQL, or a named lock on MariaDB/MySQL. Removing the newest events (truncating the tail)
leaves a valid shorter chain: compare `verify`'s head hash with one noted elsewhere to catch that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, insert, select, text

from voicechart.journal.tables import AuditRow

_CHAIN = threading.Lock()
_MYSQL_LOCK = "voicechart.audit_chain"
_TABLE: Table = AuditRow.__table__  # type: ignore[assignment]


def iso_utc(at: dt.datetime) -> str:
    """`at` as UTC ISO text with microseconds. A naive value (SQLite, MariaDB give them back) is UTC."""
    aware = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    return aware.replace(tzinfo=None).isoformat(timespec="microseconds")


def event_hash(
    prev_hash: str, *, at: dt.datetime, actor: str, action: str, object_type: str, object_id: str, detail: str
) -> str:
    canonical = json.dumps(
        {
            "at": iso_utc(at),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


@contextmanager
def _chain_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that alone may append to the chain until it ends."""
    with _CHAIN, engine.connect() as conn:
        dialect = engine.dialect.name
        if dialect == "mysql":  # a named lock: FOR UPDATE on the newest row would not stop a second reader
            conn.exec_driver_sql(f"SELECT GET_LOCK('{_MYSQL_LOCK}', 60)")
            conn.commit()
        try:
            with conn.begin():
                if dialect == "sqlite":  # a write first: the transaction holds the write lock before it reads
                    conn.execute(text("UPDATE audit_event SET id = id WHERE 1 = 0"))
                elif dialect == "postgresql":  # conflicts with itself, not with readers
                    conn.execute(text("LOCK TABLE audit_event IN SHARE ROW EXCLUSIVE MODE"))
                yield conn
        finally:
            if dialect == "mysql":
                conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{_MYSQL_LOCK}')")
                conn.commit()


def append(
    engine: Engine, *, actor: str, action: str, object_type: str, object_id: str, detail: str = ""
) -> int:
    """Add an event at the end of the chain; returns its id."""
    at = dt.datetime.now(dt.UTC)
    if engine.dialect.name == "mysql":
        at = at.replace(microsecond=0)  # DATETIME keeps whole seconds: hash what is stored
    with _chain_lock(engine) as conn:
        prev = conn.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).scalar() or ""
        fields = {
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "detail": detail,
        }
        digest = event_hash(prev, at=at, **fields)
        result = conn.execute(insert(_TABLE).values(at=at, prev_hash=prev, hash=digest, **fields))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


@dataclass(frozen=True, slots=True)
class Verdict:
    events: int  # chained events checked
    unchained: int  # rows from before the chain (schema < 0004), ahead of it
    broken_at: int | None = None  # id of the first event that does not fit
    reason: str = ""
    head: str = ""  # hash of the newest event: note it elsewhere to detect a truncated tail

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(engine: Engine) -> Verdict:
    """Walk the chain oldest first; stop at the first event whose hash or link does not match."""
    events = unchained = 0
    query = select(_TABLE).order_by(AuditRow.id)
    prev = ""
    started = False
    with engine.connect() as conn, closing(conn.execution_options(yield_per=1000).execute(query)) as rows:
        for row in rows:
            if not started and not row.hash and not row.prev_hash:
                unchained += 1
                continue
            started = True
            if row.prev_hash != prev:
                why = "its link to the previous event does not match (an event was removed or moved)"
                return Verdict(events, unchained, row.id, why, prev)
            expected = event_hash(
                prev,
                at=row.at,
                actor=row.actor,
                action=row.action,
                object_type=row.object_type,
                object_id=row.object_id,
                detail=row.detail,
            )
            if row.hash != expected:
                why = "its content does not match its hash (edited)"
                return Verdict(events, unchained, row.id, why, prev)
            prev = row.hash
            events += 1
    return Verdict(events, unchained, head=prev)
