"""One operatory's pipeline: audio → segmenter → transcriber → interpreter → exam session → journal → PMS.

Capture and segmentation run in their own thread so a slow recognizer never stalls the audio; utterances
are processed in order on the caller's thread. Every utterance is journaled (with its audio clip) before
anything is written to the PMS; an edit the PMS did not take stays pending in the journal's outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from voicechart.asr.second_ear import Ear, Readings
from voicechart.asr.service import WAKE_S, Recognition, start_recognition
from voicechart.asr.transcriber import Transcriber, Transcript
from voicechart.audio.segmenter import ProbeAnswer, ProbeRun, Segmenter, Utterance
from voicechart.audio.sources import SAMPLE_RATE, buffered, pcm16_to_float
from voicechart.clips import write_clip
from voicechart.dictation.choose import Choice, choose, may_move_cursor, spoken_sides
from voicechart.dictation.commands import (
    Command,
    Depths,
    Flag,
    Interpretation,
    Skip,
    StartExam,
    command_json,
)
from voicechart.dictation.complete import is_whole_command
from voicechart.dictation.numbering import Numbering
from voicechart.dictation.opinion import OpinionPolicy, weigh
from voicechart.dictation.unsure import echo_notes, unsure_marks
from voicechart.errors import PmsError, PmsUnavailable
from voicechart.exam.decide import decide
from voicechart.exam.path import PathOrder
from voicechart.exam.resume import (
    JournaledEdit,
    JournaledUtterance,
    ResumeReport,
    reconcile,
    replay,
    rows_at_start,
)
from voicechart.exam.session import ExamSession, Outcome
from voicechart.guards import Gates, confidence_of, judge, judge_choice
from voicechart.journal.store import Journal
from voicechart.journal.tables import UtteranceRow
from voicechart.notes.composer import NoteComposer, starts_note
from voicechart.notes.lexicon import NOTE_PROMPT, correct
from voicechart.pms.connector import PmsConnector
from voicechart.pms.outbox import Outbox
from voicechart.pms.records import ExamRecord, MeasureRow
from voicechart.recovery import continue_after, day_start_utc, lock_session_dir, read_clip

log = logging.getLogger("voicechart.pipeline")
CHARTING = (Depths, Flag, Skip, StartExam)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    min_avg_logprob: float
    min_avg_logprob_commands: float
    max_no_speech_prob: float
    min_avg_logprob_findings: float | None = None  # other numbers (recession, furcation …); None: as depths
    min_margin: float = 0.0  # depths: the chosen reading's lead over a reading with other values
    min_margin_findings: float = 0.0
    min_avg_logprob_undo_pause_end: float | None = None  # "scratch that", "pause", "end exam"; None: commands
    min_word_prob: float = 0.0  # a charted value whose word was heard below this probability is marked
    prompt_echoes: frozenset[tuple[str, ...]] = (
        frozenset()
    )  # findings ending so are marked (dictation.unsure)
    path_order: PathOrder = "maxillary_first"
    numbering: Numbering = "universal"
    realtime: bool = False  # the source is paced at speaking speed: audio time maps to wall time
    pms_wait_s: float = 1.0  # how long an utterance waits to see its edits reach the PMS (for latency)
    mode: str = "perio"  # "note": a clinical note from the first word (listen --mode note)
    provider: int = 0  # ProvNum of the person dictating (0: the patient's primary provider)
    flush_timeout_s: float = 120.0  # at the end, how long to keep delivering what the PMS has not taken yet
    readback: bool = True  # charted values are read back (else only what needs attention); toggled by voice
    clip_key: bytes | None = None  # utterance clips are encrypted with it (voicechart.clips), when given
    resume: bool = True  # continue the patient's exam session a dead process left open (voicechart.recovery)


@dataclass(slots=True)
class UtteranceResult:
    seq: int
    text: str
    confidence: float
    status: str  # applied | flagged | transcript_only | noise
    commands: list[dict[str, Any]]
    edits: list[dict[str, Any]]
    flags: list[str]
    readback: str
    audio: dict[str, Any]
    latency_ms: dict[str, float] = field(default_factory=dict)
    pms_pending: int = 0
    speak: bool = False  # worth saying aloud when readback is on (values, or something needing attention)
    readback_on: bool = False  # readback is on (settings, then "readback on/off" by voice)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "status": self.status,
            "commands": self.commands,
            "edits": self.edits,
            "flags": self.flags,
            "readback": self.readback,
            "audio": self.audio,
            "latency_ms": self.latency_ms,
            "pms_pending": self.pms_pending,
            "speak": self.speak,
            "readback_on": self.readback_on,
        }


@dataclass(slots=True)
class _Segmented:
    utterance: Utterance
    closed_wall: float


_END = object()


@dataclass(slots=True)
class _Step:
    """What one utterance became: its status, why it was flagged, what it meant and did, what to say back,
    and the words acted on (the reading chosen among the recognizer's hypotheses)."""

    status: str
    flags: list[str] = field(default_factory=list)
    interpretation: Interpretation | None = None
    outcome: Outcome | None = None
    readback: str = ""
    text: str | None = None
    avg_logprob: float | None = None  # the chosen reading's score


class _NoProbe:
    def answer(self) -> ProbeAnswer:
        return ProbeAnswer(complete=False)

    def cancel(self) -> None:
        pass


class _RecognitionProbe:
    """A recognition started at a pause; its answer is whether the words make a whole command."""

    def __init__(self, recognition: Recognition, answer_for: Callable[[Transcript], ProbeAnswer]) -> None:
        self._recognition = recognition
        self._answer_for = answer_for

    def answer(self) -> ProbeAnswer:
        return self._answer_for(self._recognition.result())

    def cancel(self) -> None:
        self._recognition.cancel()


class Pipeline:
    def __init__(
        self,
        *,
        segmenter: Segmenter,
        transcriber: Transcriber,
        note_transcriber: Callable[[], Transcriber] | None = None,
        connector: PmsConnector,
        journal: Journal,
        clips_dir: Path,
        pat_num: int,
        pms_url: str,
        model_name: str,
        options: PipelineOptions,
        operatory: int | None = None,
        today: dt.date | None = None,
        second_ear: Ear | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.transcriber = transcriber
        self.second_ear = second_ear  # where Whisper doubts values (voicechart.dictation.opinion)
        self._stop_listening = threading.Event()  # set by stop_listening(): the source ends here
        self._note_transcriber_loader = note_transcriber
        self._note_transcriber: Transcriber | None = None
        self.connector = connector
        self.journal = journal
        self.options = options
        self.pat_num = pat_num
        self.today = today or dt.date.today()
        self.exam: ExamRecord | None = None
        self.session: ExamSession | None = None
        self._seq = 0
        self._resuming: list[UtteranceRow] | None = None  # the journaled utterances of a session resumed
        self._resumed_exam: int | None = None
        self._resume_edits: list[JournaledEdit] = []
        self._resumed_last: UtteranceRow | None = None  # the last utterance the dead process journaled
        self.resume_report: ResumeReport | None = None
        self.audio_offset_s = 0.0  # where in the source this run started (a resumed replay skips ahead)
        adopted = self._adopt(clips_dir, pms_url) if options.resume and options.mode == "perio" else None
        if adopted is None:
            self.session_id = journal.start_session(
                pms_url=pms_url,
                pat_num=pat_num,
                model=model_name,
                operatory=operatory,
                prov_num=options.provider,
            )
            self._lock = lock_session_dir(clips_dir / f"session-{self.session_id}")
        else:
            self.session_id, self._lock = adopted
        self.clips_dir = clips_dir / f"session-{self.session_id}"
        if self._lock is not None:  # released when the pipeline ends, or is dropped without running
            weakref.finalize(self, self._lock.close)
        self._committed: dict[int, float] = {}
        self._commit_seen = threading.Condition()
        self.outbox = Outbox(journal, connector, pms_url=pms_url, on_commit=self._on_commit)
        self.note: NoteComposer | None = NoteComposer() if options.mode == "note" else None
        self.notes_saved = 0
        self.segmenter.probe = self._probe
        self.segmenter.background_gate = options.mode != "note"
        self._ear_listening = options.mode != "note"
        self.segmenter.listener = second_ear if self._ear_listening else None  # hears the speech arrive
        self._clock_offset: float | None = None  # wall time (perf_counter) of audio time 0, see _clocked()
        if self._resuming is not None and self._resumed_exam is not None:
            try:
                self._ensure_session()  # rebuild the exam now, so the first utterance is decided as before
            except PmsError as exc:  # rebuilt at the first command instead
                log.warning("resumed session %d: the exam could not be opened yet (%s)", self.session_id, exc)

    # --- after a crash -------------------------------------------------------------------------------------
    def _adopt(self, clips_dir: Path, pms_url: str) -> tuple[int, IO[str]] | None:
        """Claim the newest session of this patient and PMS, today, that a dead process left open."""
        since = day_start_utc(self.today)
        for row in self.journal.interrupted_sessions(pat_num=self.pat_num, pms_url=pms_url, since=since):
            directory = clips_dir / f"session-{row.id}"
            if not (directory / ".lock").exists():
                continue  # not this machine's (a shared journal)
            lock = lock_session_dir(directory)
            if lock is None:
                continue  # a live pipeline has it
            utterances = self.journal.utterances(row.id)
            self._seq = max((u.seq for u in utterances), default=0)
            self._resuming = utterances
            self._resumed_last = utterances[-1] if utterances else None
            self._resumed_exam = row.exam_num
            self.journal.audit(
                actor="voicechart",
                action="session_resumed",
                object_type="exam_session",
                object_id=str(row.id),
                detail=f"after utterance {self._seq}",
            )
            log.warning("resuming session %d after utterance %d (the process had stopped)", row.id, self._seq)
            return row.id, lock
        return None

    def resume_offset(self, pcm: np.ndarray) -> int:
        """Where a recording replayed after a restart continues: just after the last utterance the journal
        holds, if this recording holds that utterance's audio there (it is the same recording); else 0."""
        last = self._resumed_last
        if last is None:
            return 0
        clip = read_clip(Path(last.clip_path), key=self.options.clip_key)
        after = continue_after(pcm, clip, last.audio_start_s) if clip is not None else None
        if after is None:
            log.warning("resumed session %d: this source is not the interrupted recording", self.session_id)
            return 0
        self.audio_offset_s = after / SAMPLE_RATE
        return after

    def _resume_exam(self, rows: list[MeasureRow]) -> list[MeasureRow] | None:
        """The chart as the resumed session began, or None when there is nothing to resume."""
        if self._resuming is None or self.exam is None:
            return None
        if self._resumed_exam not in (None, self.exam.exam_num):
            log.warning("resumed session %d: its exam is no longer today's exam", self.session_id)
            self._resuming = None
            return None
        self._resume_edits = [
            JournaledEdit(e.sequence_type, e.tooth, e.before, e.after)
            for e in self.journal.session_edits(self.session_id)
            if e.exam_num == self.exam.exam_num
        ]
        return rows_at_start(rows, self._resume_edits)

    def _replay_journal(self, session: ExamSession) -> None:
        assert self._resuming is not None
        utterances = [JournaledUtterance(u.status, u.text, u.flag_reason) for u in self._resuming]
        replayed = replay(session, utterances, self.options.numbering)
        corrected = reconcile(session, self._resume_edits)
        self.resume_report = ResumeReport(replayed, len(self._resume_edits), corrected)
        self._resuming = None
        self.outbox.kick()  # what the dead process had not delivered yet

    def _on_commit(self, edit_ids: list[int], at: float) -> None:
        with self._commit_seen:
            for edit_id in edit_ids:
                self._committed[edit_id] = at
            self._commit_seen.notify_all()

    def _wait_committed(self, edit_ids: list[int]) -> float | None:
        """When the last of these edits reached the PMS (perf_counter), if within options.pms_wait_s."""
        if not edit_ids:
            return None
        deadline = time.perf_counter() + self.options.pms_wait_s
        with self._commit_seen:
            while not all(i in self._committed for i in edit_ids):
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self._commit_seen.wait(timeout=left)
            return max(self._committed[i] for i in edit_ids)

    # --- the loop ------------------------------------------------------------------------------------------
    def run(self, chunks: Iterable[np.ndarray]) -> Iterator[UtteranceResult]:
        """Process a whole source; yields one result per utterance. Ends at end of input or "end exam"."""
        segments: queue.Queue[object] = queue.Queue()
        failure: list[BaseException] = []
        stop = self._stop_listening

        def segment() -> None:
            try:
                for utt in self.segmenter.segment(self._clocked(buffered(chunks, stop))):
                    segments.put(_Segmented(utt, time.perf_counter()))
            except BaseException as exc:  # handed to the consumer thread, which re-raises it
                failure.append(exc)
            finally:
                segments.put(_END)

        self.outbox.start()
        worker = threading.Thread(target=segment, name="voicechart-segment", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    # a timeout, so that Ctrl-C is acted on while no one speaks: the signal may reach
                    # another thread (the microphone's, the recognizer's), and Python runs its handler
                    # only when the main thread runs
                    item = segments.get(timeout=WAKE_S)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                assert isinstance(item, _Segmented)
                result = self.process(item.utterance, closed_wall=item.closed_wall)
                yield result
                if self.session is not None and self.session.ended and self.note is None:
                    break
                if self.options.mode == "note" and self.note is None:
                    break  # the note was the job
        finally:
            stop.set()
            if self.note is not None and self.note.raw:
                self._save_note(unfinished=True)  # input ended inside a note: keep what was said
            self.outbox.stop(flush_timeout_s=self.options.flush_timeout_s)
            self.journal.end_session(self.session_id)
            if self._lock is not None:
                self._lock.close()
            worker.join(5.0)  # the capture side closes its source (a microphone stream) before this returns
        if failure:
            raise failure[0]

    def stop_listening(self) -> None:
        """End the source where it is, from any thread (a station being stopped): what was said up to here,
        the utterance in progress included, is recognized, charted and delivered as at the end of a file, and
        run() then returns. Before run() starts, run() returns at once."""
        self._stop_listening.set()

    def _clocked(self, chunks: Iterable[tuple[np.ndarray, float]]) -> Iterator[np.ndarray]:
        """Map the audio timeline to wall time: audio time t happened at offset + t, where the offset is the
        smallest (arrival − audio time) seen, i.e. the chunk that reached us with the least delay."""
        samples = 0
        for chunk, arrived in chunks:
            samples += len(chunk)
            offset = arrived - samples / SAMPLE_RATE
            if self._clock_offset is None or offset < self._clock_offset:
                self._clock_offset = offset
            yield chunk

    # --- early end -----------------------------------------------------------------------------------------
    def _probe(self, pcm: np.ndarray) -> ProbeRun:
        """Started by the segmenter at a short pause: are the words so far a whole command already?"""
        if self.note is not None or self.options.mode == "note":
            return _NoProbe()  # notes are free speech, recognized by the note model at the end
        return _RecognitionProbe(start_recognition(self.transcriber, pcm16_to_float(pcm)), self._answer)

    def _answer(self, transcript: Transcript) -> ProbeAnswer:
        session = self.session  # read only: whether "which tooth?" waits for an answer
        return probe_answer(transcript, self.options, answers=session.answers if session else None)

    # --- one utterance -------------------------------------------------------------------------------------
    def process(self, utt: Utterance, *, closed_wall: float | None = None) -> UtteranceResult:
        self._seq += 1
        seq = self._seq
        marks: dict[str, float] = {"closed": closed_wall or time.perf_counter()}
        try:
            clip = write_clip(self.clips_dir / f"{seq:05d}.wav", utt.pcm, key=self.options.clip_key)
        except OSError as exc:  # disk full, read-only: nothing of this utterance can be kept
            return self._not_stored(seq, utt, exc)
        marks["asr_start"] = time.perf_counter()
        in_note = self.note is not None
        if isinstance(utt.recognized, Transcript) and not in_note:
            transcript = utt.recognized  # recognized already, when the segmenter asked at the pause
        else:
            recognizer = self._recognizer_for_notes() if in_note else self.transcriber
            prompt = NOTE_PROMPT if in_note else None
            transcript = recognizer.transcribe(pcm16_to_float(utt.pcm), prompt=prompt)
        marks["asr_done"] = time.perf_counter()
        session_before = self.session.snapshot() if self.session is not None else None
        had_session = self.session is not None
        if in_note or starts_note(transcript.text) is not None:
            step = self._note_step(transcript)
        else:
            step = self._decide(transcript, utt)
        status, flags, interpretation, outcome, readback_text = (
            step.status,
            step.flags,
            step.interpretation,
            step.outcome,
            step.readback,
        )
        marks["applied"] = time.perf_counter()
        self.segmenter.background_gate = self.note is None  # notes are continuous speech: see the segmenter
        if self._ear_listening != (self.note is None):  # no values in a note: the second ear rests
            self._ear_listening = self.note is None
            self.segmenter.listener = self.second_ear if self._ear_listening else None
        commands = interpretation.commands if interpretation else ()
        edits = outcome.edits if outcome else ()
        readback = readback_text
        try:
            _utt_id, edit_ids = self.journal.record_utterance(
                session_id=self.session_id,
                seq=seq,
                clip_path=clip,
                audio_start_s=utt.start_s + self.audio_offset_s,
                audio_end_s=utt.speech_end_s + self.audio_offset_s,
                text=step.text or transcript.text,
                avg_logprob=transcript.avg_logprob if step.avg_logprob is None else step.avg_logprob,
                no_speech_prob=transcript.no_speech_prob,
                status=status,
                flag_reason="; ".join(flags),
                readback=readback,
                timings=_journal_timings(utt, marks, transcript),
                commands=commands if status == "applied" else (),
                edits=edits,
                exam_num=self.exam.exam_num if self.exam else None,
                exam_notes=outcome.notes if outcome is not None and status == "applied" else (),
                pat_num=self.pat_num,
            )
        except (SQLAlchemyError, OSError) as exc:  # the journal cannot store it: it must not count
            if session_before is not None and self.session is not None:
                self.session.restore(session_before)
            elif not had_session:
                self.session = None  # built from the PMS again at the next command
            return self._not_stored(seq, utt, exc)
        marks["journal"] = time.perf_counter()
        self.outbox.kick()
        committed_at = self._wait_committed(edit_ids)
        if committed_at is not None:
            marks["pms"] = committed_at
        pending = len(self.journal.pending_edits(self.session_id))
        return UtteranceResult(
            seq=seq,
            text=step.text or transcript.text,
            confidence=math.exp(transcript.avg_logprob if step.avg_logprob is None else step.avg_logprob),
            status=status,
            commands=[command_json(c) for c in commands],
            edits=[_edit_json(e) for e in edits] if status == "applied" else [],
            flags=flags,
            readback=readback,
            audio={
                "start_s": round(utt.start_s + self.audio_offset_s, 3),
                "speech_end_s": round(utt.speech_end_s + self.audio_offset_s, 3),
                "closed_s": round(utt.closed_s + self.audio_offset_s, 3),
                "early": utt.early,
            },
            latency_ms=self._latencies(utt, marks, transcript),
            pms_pending=pending,
            speak=bool(readback)
            and (outcome.speak if outcome is not None else status in ("flagged", "note")),
            readback_on=self.session.readback_enabled if self.session else self.options.readback,
        )

    def _not_stored(self, seq: int, utt: Utterance, exc: BaseException) -> UtteranceResult:
        """The journal (or the clips directory) could not store an utterance: the session is as before it,
        nothing goes to the PMS, and the operatory hears the flagged earcon and why."""
        log.error("utterance %d NOT STORED, nothing charted: %s", seq, type(exc).__name__)
        reason = "the journal cannot write (is the disk full or read-only?)"
        return UtteranceResult(
            seq=seq,
            text="",
            confidence=0.0,
            status="not_stored",
            commands=[],
            edits=[],
            flags=[f"not stored: {reason}"],
            readback="Not stored: the journal cannot write. Nothing was charted. Say it again when fixed",
            audio={"start_s": round(utt.start_s + self.audio_offset_s, 3), "early": utt.early},
            speak=True,
            readback_on=True,
        )

    def _recognizer_for_notes(self) -> Transcriber:
        """Notes may use a larger model (asr.note_model): accurate rather than instant. Loaded lazily."""
        if self._note_transcriber is None:
            loader = self._note_transcriber_loader
            self._note_transcriber = loader() if loader is not None else self.transcriber
        return self._note_transcriber

    def _note_step(self, transcript: Transcript) -> _Step:
        """Note mode: the words are note text, never chart values."""
        verdict = judge(transcript, min_avg_logprob=-10.0, max_no_speech_prob=self.options.max_no_speech_prob)
        if verdict.status == "noise":
            return _Step("noise", [verdict.reason])
        text = transcript.text
        if self.note is None or not self.note.raw:
            self.note = self.note or NoteComposer()
            opened = starts_note(text)  # "start note" said in note mode too: not part of the note
            text = text if opened is None else opened
            if not text.strip():
                return _Step("note", readback="Note. Go ahead")
        flags = []
        if transcript.avg_logprob < self.options.min_avg_logprob_commands:
            flags.append(f"recognizer unsure (confidence {transcript.confidence:.2f}): check this part")
        readback = self.note.add(text)
        if self.note.ended:
            readback = self._save_note(unfinished=False)
        return _Step("note", flags, readback=readback)

    def _save_note(self, *, unfinished: bool) -> str:
        """Journal the note (raw and corrected text, who dictated it) for the outbox; back to charting."""
        assert self.note is not None
        note, self.note = self.note, None
        corrected, corrections = correct(note.text)
        if not corrected.strip():
            return "Empty note: nothing saved"
        if unfinished:
            corrected += "\n\n[dictation ended before 'end note']"
        self.journal.add_note(
            kind="clinical_note",
            pat_num=self.pat_num,
            text=corrected,
            raw_text=note.text,  # before the lexicon (each utterance as recognized is in the journal too)
            corrections=[(c.before, c.after) for c in corrections],
            note_date=self.today,
            prov_num=self.options.provider,
            session_id=self.session_id,
        )
        self.outbox.kick()
        self.notes_saved += 1
        return f"Note saved, {len(corrected.split())} words"

    def _decide(self, transcript: Transcript, utt: Utterance) -> _Step:
        fits = self.session.fits if self.session else None
        choice = choose(transcript, self.options.numbering, fits)
        interpretation = choice.interpretation
        answering = self.session is not None and self.session.answers(interpretation.commands)
        gates = gates_of(self.options)
        verdict = judge_choice(transcript, choice, gates, answering=answering)
        if verdict.status == "noise":
            return _Step("noise", [verdict.reason])
        low_confidence = verdict.reason if verdict.status == "low_confidence" else ""
        echoes = self.options.prompt_echoes
        unsure = {} if low_confidence else unsure_marks(transcript, choice, gates.unsure_word, echoes)
        if self.second_ear is not None:
            low_confidence, unsure = self._second_opinion(choice, low_confidence, unsure, transcript, utt)
        session = self.session
        if session is None and interpretation.accepted and not low_confidence:
            try:
                session = self._ensure_session()
            except PmsUnavailable as exc:  # kept in the journal with its audio; the next utterance retries
                reason = f"the exam could not be opened: {exc}"
                readback = "The PMS is not answering. Nothing charted."
                return _Step(
                    "flagged", [reason], interpretation, readback=readback, text=choice.text,
                    avg_logprob=confidence_of(transcript, choice),
                )  # fmt: skip
        decision = decide(
            session,
            interpretation,
            low_confidence=low_confidence,
            spoken_sides=spoken_sides(transcript),
            may_move_cursor=may_move_cursor(transcript),
            unsure=unsure,
        )
        return _Step(
            decision.status,
            decision.flags,
            interpretation,
            decision.outcome,
            decision.readback,
            choice.text,
            confidence_of(transcript, choice),
        )

    def _second_opinion(
        self,
        choice: Choice,
        low_confidence: str,
        unsure: dict[int, str],
        transcript: Transcript,
        utt: Utterance,
    ) -> tuple[str, dict[int, str]]:
        """Whisper's verdict weighed with the second ear's reading of the same audio (asked only where
        Whisper doubts values): the one it made as the speech arrived, or, when it was not listening, one
        made now. If the second ear cannot hear (its model failed),
        Whisper's verdict stands."""
        ear = self.second_ear
        assert ear is not None

        def heard() -> Transcript:
            try:
                if isinstance(utt.heard, Readings):
                    return utt.heard.transcript()
                if self.segmenter.listener is not None:  # it is hearing the next utterance: no reading here
                    return Transcript("", -10.0, 0.0)
                return ear.hear(pcm16_to_float(utt.pcm))
            except Exception as exc:  # whatever the second ear raises, Whisper alone decides
                log.warning("second ear unavailable, Whisper alone decides: %s", type(exc).__name__)
                self.second_ear = self.segmenter.listener = None
                return Transcript("", -10.0, 0.0)

        fits = self.session.fits if self.session else None
        echoes = self.options.prompt_echoes
        floor = gates_of(self.options).unsure_word
        weighed = weigh(
            choice,
            low_confidence,
            unsure,
            second_reading=lambda: choose(heard(), self.options.numbering, fits),
            marks_of=lambda: unsure_marks(transcript, choice, floor, echoes),
            echoes=lambda: echo_notes(choice.interpretation, echoes),
            policy=OpinionPolicy(),
        )
        return weighed.low_confidence, weighed.unsure

    def _ensure_session(self) -> ExamSession:
        if self.session is None:
            self.exam = self.connector.open_exam(self.pat_num, self.today)
            self.journal.set_exam(self.session_id, self.exam.exam_num, prov_num=self.exam.prov_num)
            self.journal.audit(  # opening may write: a new exam and its skipped teeth
                actor="voicechart",
                action="pms_open_exam",
                object_type="perioexam",
                object_id=str(self.exam.exam_num),
                detail=f"session {self.session_id}",
            )
            previous = self.connector.previous_exam(self.pat_num, self.today)
            at_start = self._resume_exam(list(self.exam.measures))
            session = ExamSession(
                path_order=self.options.path_order,
                numbering=self.options.numbering,
                rows=self.exam.measures if at_start is None else at_start,
                previous=previous.measures if previous else (),
                readback_enabled=self.options.readback,
            )
            if at_start is not None:
                self._replay_journal(session)
            self.session = session
        return self.session

    # --- PMS -----------------------------------------------------------------------------------------------
    def retry_pending(self) -> int:
        """Deliver what the PMS has not taken yet (this and earlier sessions); returns how many still wait."""
        return self.outbox.drain().pending

    # --- timing --------------------------------------------------------------------------------------------
    def _latencies(self, utt: Utterance, marks: dict[str, float], transcript: Transcript) -> dict[str, float]:
        """Where the time went. Live (a paced source), every stage is timed from the end of speech on the
        audio timeline: segment closed, recognized, applied, journaled, in the PMS. Replayed as fast as
        possible, utterances queue behind each other, so the end-to-end figure counts the work instead."""
        ms: Callable[[float], float] = lambda s: round(s * 1000, 1)  # noqa: E731
        probed = isinstance(utt.recognized, Transcript) and utt.recognized is transcript
        out = {
            "hangover": ms(utt.closed_s - utt.speech_end_s),
            "queue": ms(marks["asr_start"] - marks["closed"]),
            "asr": ms(transcript.seconds),
            "apply": ms(marks["applied"] - marks["asr_done"]),
            "journal": ms(marks["journal"] - marks["applied"]),
        }
        if "pms" in marks:
            out["pms"] = ms(marks["pms"] - marks["journal"])
        if self.options.realtime and self._clock_offset is not None:
            speech_end = self._clock_offset + utt.speech_end_s
            stages = {
                "closed": "closed",
                "recognized": "asr_done",
                "applied": "applied",
                "journaled": "journal",
            }
            for name, mark in stages.items():
                out[f"{name}_after_speech_end"] = ms(marks[mark] - speech_end)
            if "pms" in marks:
                out["speech_end_to_pms"] = ms(marks["pms"] - speech_end)
        elif "pms" in marks:
            cfg = self.segmenter.cfg
            started_ms = min(cfg.probe_start_ms or cfg.probe_ms, cfg.probe_ms)  # when the probe began
            after_pause = started_ms / 1000 if probed else utt.closed_s - utt.speech_end_s
            ready = max(utt.closed_s - utt.speech_end_s, after_pause + transcript.seconds) if probed else 0.0
            work = marks["pms"] - (marks["asr_done"] if probed else marks["asr_start"])
            out["speech_end_to_pms"] = ms((ready if probed else out["hangover"] / 1000) + work)
        return out


def gates_of(options: PipelineOptions) -> Gates:
    findings = options.min_avg_logprob_findings
    return Gates(
        depths=options.min_avg_logprob,
        findings=options.min_avg_logprob if findings is None else findings,
        commands=options.min_avg_logprob_commands,
        depths_margin=options.min_margin,
        findings_margin=options.min_margin_findings,
        undo_pause_end=options.min_avg_logprob_undo_pause_end,
        unsure_word=options.min_word_prob,
        max_no_speech_prob=options.max_no_speech_prob,
    )


def probe_answer(
    transcript: Transcript,
    options: PipelineOptions,
    *,
    answers: Callable[[Sequence[Command]], bool] | None = None,
) -> ProbeAnswer:
    """May the utterance end at this pause? Only if what was heard is trusted and a whole command. The
    choice here does not dry-run the session (the probe runs on another thread than the one that applies
    utterances); the utterance itself is then decided with it. `answers`: whether commands answer the
    session's "which tooth?" (ExamSession.answers), judged then at the depths' floor, as `_decide` will."""
    if starts_note(transcript.text) is not None:
        return ProbeAnswer(complete=False)  # a note follows: the note model recognizes it whole
    choice = choose(transcript, options.numbering)
    answering = answers is not None and answers(choice.interpretation.commands)
    verdict = judge_choice(transcript, choice, gates_of(options), answering=answering)
    return ProbeAnswer(verdict.status == "ok" and is_whole_command(choice.interpretation), transcript)


def _edit_json(edit: Any) -> dict[str, Any]:
    return {
        "sequence_type": edit.sequence_type.api_name,
        "tooth": edit.tooth,
        "tooth_value": edit.after.tooth_value,
        "sites": dict(zip(("MB", "B", "DB", "ML", "L", "DL"), edit.after.sites, strict=True)),
        "flagged": edit.flagged,
    }


def _journal_timings(utt: Utterance, marks: dict[str, float], transcript: Transcript) -> dict[str, float]:
    """What the journal keeps of an utterance's latency (the review app's dashboard plots it): from the end
    of speech to the interpreted result, by stage, in milliseconds."""
    hangover = utt.closed_s - utt.speech_end_s
    queue = marks["asr_start"] - marks["closed"]
    apply = marks["applied"] - marks["asr_done"]
    return {
        "hangover_ms": round(hangover * 1000, 1),
        "queue_ms": round(queue * 1000, 1),
        "asr_ms": round(transcript.seconds * 1000, 1),
        "speech_end_to_applied_ms": round((hangover + queue + transcript.seconds + apply) * 1000, 1),
    }
