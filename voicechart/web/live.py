"""Live updates: one poller watches the journal for new rows (any process may write them: the station, a
`listen`, the review app itself) and for PMS writes whose status changed (pending → delivered or refused),
and tells every open page which exams changed, by server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from voicechart.web.readmodel import ReadModel

_log = logging.getLogger("voicechart.web.live")
KEEPALIVE_S = 15.0


class LiveHub:
    def __init__(self, read: ReadModel, *, poll_s: float) -> None:
        self.read = read
        self.poll_s = poll_s
        self._subscribers: set[asyncio.Queue[set[int]]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voicechart-live")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        latest: tuple[int, int, int, int] | None = None  # None: nobody watches; take a baseline first
        outbox: dict[tuple[int, str, str], int] | None = None
        while True:
            await asyncio.sleep(self.poll_s)
            if not self._subscribers:
                latest = outbox = None  # no queries while no page is open
                continue
            try:
                now = await run_in_threadpool(self.read.latest_ids)
                outbox_now = await run_in_threadpool(self.read.outbox_state)
                changed: set[int] = set()
                rows_added = latest is not None and now != latest
                if latest is not None and rows_added:
                    changed |= await run_in_threadpool(self.read.sessions_changed_since, *latest)
                if outbox is not None and outbox_now != outbox:
                    changed |= {
                        k[0] for k in outbox.keys() | outbox_now.keys() if outbox.get(k) != outbox_now.get(k)
                    }
                if rows_added or changed:
                    for queue in list(self._subscribers):
                        queue.put_nowait(changed)
                latest, outbox = now, outbox_now
            except Exception:  # the journal is busy or gone for a moment: try again at the next tick
                _log.exception("live poll failed")

    async def events(self, session_id: int | None) -> AsyncIterator[str]:
        queue: asyncio.Queue[set[int]] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            yield "retry: 1000\n\n"
            while True:
                try:
                    changed = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if session_id is None or session_id in changed:
                    yield f"event: change\ndata: {json.dumps({'sessions': sorted(changed)})}\n\n"
        finally:
            self._subscribers.discard(queue)
