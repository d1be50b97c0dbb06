"""A station: one pipeline per operatory in one process, all sharing one loaded model.

Each operatory runs on its own thread with its own source (its microphone, or a stream), its own PMS
connection and journal handle; recognition requests from all of them go through one RecognitionService,
which serves the operatories in turn. On a microphone, an operatory goes on after "end exam" with the
patient the schedule shows next; a stream or file ends the operatory when it ends.

Stopped (Ctrl-C, or SIGTERM from a service manager: `Station.stop`), every operatory ends its source where it
is: what was said up to then, the utterance in progress included, is recognized, charted and delivered to the
PMS before the station returns, as at the end of a file.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicechart.asr.service import RecognitionService
from voicechart.asr.transcriber import WhisperTranscriber
from voicechart.audio.gate import PlaybackGate
from voicechart.errors import VoicechartError
from voicechart.journal.store import Journal
from voicechart.pipeline import Pipeline, UtteranceResult
from voicechart.runner import build_pipeline, open_connector, source_chunks
from voicechart.settings import Settings

if TYPE_CHECKING:
    from voicechart.feedback.player import Feedback

log = logging.getLogger("voicechart.station")


@dataclass(frozen=True, slots=True)
class OperatorySource:
    number: int
    source: str  # mic, mic:NAME, -, a named pipe or a file
    output_device: str = ""


Report = Callable[[int, UtteranceResult], None]
Notify = Callable[[str], None]

JOIN_POLL_S = 0.2
"""How often the main thread wakes while it waits for the operatories (it handles signals only then)."""
STOP_MARGIN_S = 60.0
"""Once stopped, how long beyond the PMS's flush timeout to wait for an operatory's last utterance."""


class Station:
    def __init__(
        self,
        settings: Settings,
        operatories: list[OperatorySource],
        *,
        transcriber: WhisperTranscriber,
        report: Report,
        notify: Notify,
        feedback: bool = False,
    ) -> None:
        if len({o.number for o in operatories}) != len(operatories):
            raise VoicechartError("each operatory may be served once")
        self.settings = settings
        self.operatories = operatories
        self.transcriber = transcriber
        self.service = RecognitionService(transcriber)
        self._report = report
        self._notify = notify
        self._feedback = feedback
        self._report_lock = threading.Lock()
        self._stopping = threading.Event()
        self._listening: dict[int, Pipeline] = {}  # by operatory, guarded by _report_lock
        self.failures: dict[int, str] = {}
        self.unstopped: list[int] = []  # operatories still busy when the station gave up waiting

    def run(self) -> int:
        """Serve every operatory until its source ends, or until stopped; returns how many operatories failed.
        Ctrl-C or SIGTERM reaching the main thread as KeyboardInterrupt stops the station (`stop`) and is
        raised again once every operatory has delivered what it heard."""
        # each operatory's thread says when it is done: Thread.join interrupted by Ctrl-C can mark a thread
        # that is still running as stopped (Python 3.11's bpo-45274 handling), so it is never joined here
        done = {o.number: threading.Event() for o in self.operatories}
        for o in self.operatories:
            threading.Thread(
                target=self._serve, args=(o, done[o.number]), name=f"voicechart-op{o.number}", daemon=True
            ).start()
        try:
            _wait_for(done.values(), deadline=None)
        except KeyboardInterrupt:
            self.stop()
            self._notify("Stopping: what was heard is being charted and delivered.")
            deadline = time.monotonic() + self.settings.pms.flush_timeout_s + STOP_MARGIN_S
            _wait_for(done.values(), deadline=deadline)
            self.unstopped = [number for number, finished in done.items() if not finished.is_set()]
            raise
        finally:
            self.service.stop()
        return len(self.failures)

    def stop(self) -> None:
        """End every operatory's source where it is (any thread): each charts and delivers what it heard up
        to here and ends; none goes on to the next patient."""
        self._stopping.set()
        with self._report_lock:
            for pipeline in self._listening.values():
                pipeline.stop_listening()

    def _serve(self, op: OperatorySource, done: threading.Event) -> None:
        try:
            while not self._stopping.is_set():
                charted = self._one_exam(op)
                if not op.source.startswith("mic") or not charted:
                    return
        except VoicechartError as exc:
            self.failures[op.number] = str(exc)
            self._notify(f"operatory {op.number}: {exc}")
        except Exception as exc:  # one operatory's failure must not stop the others
            log.exception("operatory %d failed", op.number)
            self.failures[op.number] = f"{type(exc).__name__}: {exc}"
            self._notify(f"operatory {op.number} stopped: {type(exc).__name__} (details in the log)")
        finally:
            done.set()

    def _one_exam(self, op: OperatorySource) -> bool:
        """One patient's exam in this operatory; True if the exam ended ("end exam") with input left."""
        settings = self.settings
        url = settings.resolved_pms_url
        connector = open_connector(url, settings)
        journal = Journal(settings.journal_url)
        gate = PlaybackGate(settings.feedback.gate_tail_ms / 1000)
        player = self._player(op, gate) if self._feedback else None
        try:
            appointment = connector.appointment_in_operatory(op.number, dt.datetime.now())
            if appointment is None:
                raise VoicechartError(f"no appointment in operatory {op.number} today")
            self._notify(f"operatory {op.number}: patient {appointment.pat_num}, listening on {op.source}")
            pipeline = build_pipeline(
                settings,
                transcriber=self.transcriber,
                recognizer=self.service.client(f"operatory-{op.number}"),
                connector=connector,
                journal=journal,
                pat_num=appointment.pat_num,
                pms_url=url,
                realtime=True,  # a file is paced at speaking speed, like a microphone
                operatory=op.number,
            )
            with self._report_lock:
                self._listening[op.number] = pipeline
                if self._stopping.is_set():  # stopped while this exam was being opened
                    pipeline.stop_listening()
            chunks = source_chunks(
                op.source, realtime=True, settings=settings, gate=gate, notify=self._notify
            )
            for result in pipeline.run(chunks):
                if player is not None:
                    player.on_result(
                        result.status, result.commands, result.readback, result.speak and result.readback_on
                    )
                with self._report_lock:
                    self._report(op.number, result)
            pending = pipeline.retry_pending()
            if pending:
                self._notify(
                    f"operatory {op.number}: {pending} edits are not in the PMS yet "
                    f"({pipeline.outbox.last_error}); they are kept in the journal and go at the next run, "
                    "or with `voicechart outbox --flush`."
                )
            return pipeline.session is not None and pipeline.session.ended
        finally:
            with self._report_lock:
                self._listening.pop(op.number, None)
            if player is not None:
                player.close()
            connector.close()
            journal.close()

    def _player(self, op: OperatorySource, gate: PlaybackGate) -> Feedback | None:
        from voicechart.feedback.player import Feedback
        from voicechart.feedback.tts import EspeakReadback

        f = self.settings.feedback
        try:
            return Feedback(
                gate,
                output_device=op.output_device,
                earcons=f.earcons,
                readback=EspeakReadback(voice=f.voice),
                notify=self._notify,
            )
        except VoicechartError as exc:
            self._notify(f"operatory {op.number}: no confirmation sounds: {exc}")
            return None


def _wait_for(events: Iterable[threading.Event], *, deadline: float | None) -> None:
    """Wait until every event is set, waking every JOIN_POLL_S so that the main thread can handle a signal;
    give up at `deadline` (time.monotonic()), if any."""
    for event in events:
        while not event.wait(JOIN_POLL_S):
            if deadline is not None and time.monotonic() >= deadline:
                return
