"""A station: one pipeline per operatory in one process, all sharing one loaded model.

Each operatory runs on its own thread with its own source (its microphone, or a stream), its own PMS
connection and journal handle; recognition requests from all of them go through one RecognitionService,
which serves the operatories in turn. On a microphone, an operatory goes on after "end exam" with the
patient the schedule shows next; a stream or file ends the operatory when it ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicechart.asr.service import RecognitionService
from voicechart.asr.transcriber import WhisperTranscriber
from voicechart.audio.gate import PlaybackGate
from voicechart.errors import VoicechartError
from voicechart.journal.store import Journal
from voicechart.pipeline import UtteranceResult
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
        self.failures: dict[int, str] = {}

    def run(self) -> int:
        """Serve every operatory until its source ends; returns how many operatories failed."""
        threads = [
            threading.Thread(target=self._serve, args=(o,), name=f"voicechart-op{o.number}", daemon=True)
            for o in self.operatories
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        finally:
            self.service.stop()
        return len(self.failures)

    def _serve(self, op: OperatorySource) -> None:
        try:
            while True:
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
            return pipeline.session is not None and pipeline.session.ended
        finally:
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
