"""Builds the parts of a pipeline from settings. Heavy runtimes (faster-whisper, onnxruntime) load here,
lazily, never at import time."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from voicechart.asr.ear_process import EarProcess
from voicechart.asr.models import ResolvedModel, resolve_model
from voicechart.asr.second_ear import Ear
from voicechart.asr.transcriber import Transcriber, Vocabulary, WhisperTranscriber
from voicechart.audio.detectors import make_detector
from voicechart.audio.gate import PlaybackGate
from voicechart.audio.segmenter import Segmenter, SegmenterConfig
from voicechart.audio.sources import array_chunks, decode_file, paced, stream_chunks
from voicechart.clips import key_from_env
from voicechart.dictation.unsure import prompt_echoes
from voicechart.errors import ModelError
from voicechart.journal.store import Journal
from voicechart.pipeline import Pipeline, PipelineOptions
from voicechart.pms.connector import PmsConnector
from voicechart.settings import PROJECT_DIR, Settings

log = logging.getLogger("voicechart.runner")


def is_api_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def open_connector(url: str, settings: Settings) -> PmsConnector:
    """An http(s) URL is an Open Dental API (keys from the environment); a database URL is the sandbox,
    in-process."""
    if is_api_url(url):
        from voicechart.pms.odapi.client import OpenDentalApi
        from voicechart.pms.odapi.connector import OpenDentalApiConnector
        from voicechart.secrets import api_keys

        developer, customer = api_keys(development=settings.development)
        api = OpenDentalApi(
            url, developer_key=developer, customer_key=customer, timeout_s=settings.pms.api_timeout_s
        )
        writer = OpenDentalApiConnector(api, clinical_note_code=settings.pms.clinical_note_code)
        if not settings.pms.read_url:
            return writer
        from voicechart.pms.hybrid import SqlReadApiWriteConnector
        from voicechart.pms.sandbox.connector import SandboxConnector

        reader = SandboxConnector.from_url(settings.pms.read_url, read_only=True)
        return SqlReadApiWriteConnector(reader, writer)
    from voicechart.pms.sandbox.connector import SandboxConnector

    return SandboxConnector.from_url(url, clinical_note_code=settings.pms.clinical_note_code)


def resolve(settings: Settings) -> ResolvedModel:
    return resolve_model(
        settings.asr.model,
        explicit_path=settings.asr.model_path,
        models_dir=PROJECT_DIR / "models",
        cache_dir=settings.resolved_data_dir,
    )


def load_transcriber(settings: Settings) -> WhisperTranscriber:
    return WhisperTranscriber(resolve(settings), settings.asr, vocabulary=charting_vocabulary(settings))


def charting_vocabulary(settings: Settings) -> Vocabulary | None:
    """The words the recognizer may write while charting (asr.charting_vocabulary), or None: any."""
    if not settings.asr.charting_vocabulary:
        return None
    from voicechart.dictation.vocabulary import FREE_TEXT_WORDS, charting_words

    return Vocabulary(charting_words(), FREE_TEXT_WORDS)


def load_note_transcriber(settings: Settings, *, fallback: WhisperTranscriber) -> WhisperTranscriber:
    """The model for clinical notes (asr.note_model), or the charting model if that one is not installed."""
    name = settings.asr.note_model
    if not name or name == fallback.model_info.name:
        return fallback
    candidate = settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": name})})
    try:
        return load_transcriber(candidate)
    except ModelError as exc:
        log.warning("note model %s unavailable (%s); notes use %s", name, exc, fallback.model_info.name)
        return fallback


def make_segmenter(settings: Settings) -> Segmenter:
    v = settings.vad
    detector = make_detector(
        v.detector,
        webrtc_mode=v.webrtc_mode,
        threshold=v.silero_threshold,
        neg_threshold=v.silero_neg_threshold,
    )
    config = SegmenterConfig(
        frame_ms=v.frame_ms,
        pre_roll_ms=v.pre_roll_ms,
        hangover_ms=v.hangover_ms,
        min_speech_ms=v.min_speech_ms,
        max_utterance_s=v.max_utterance_s,
        probe_ms=v.probe_ms,
        above_floor_db=v.above_floor_db,
        probe_start_ms=v.probe_start_ms,
    )
    return Segmenter(detector, config)


def source_chunks(
    source: str,
    *,
    realtime: bool,
    settings: Settings | None = None,
    gate: PlaybackGate | None = None,
    notify: Callable[[str], None] | None = None,
    resume: Callable[[np.ndarray], int] | None = None,
    on_listening: Callable[[], None] | None = None,
) -> Iterable[np.ndarray]:
    """'-' = raw s16le 16 kHz mono on stdin (or a named pipe's path); 'mic' = the configured input device,
    'mic:NAME' = that device (name or index); anything else = an audio file. `resume` says where in a file
    to start (Pipeline.resume_offset: after what a dead process already journaled). `on_listening` is called
    when a live source is ready to be spoken into: a microphone once it is capturing, stdin or a pipe now."""
    if source == "-":
        chunks: Iterator[np.ndarray] = stream_chunks(sys.stdin.buffer)
        if on_listening is not None:
            on_listening()
        return chunks  # stdin is paced by whoever writes it
    if source == "mic" or source.startswith("mic:"):
        from voicechart.audio.microphone import Microphone

        device = (
            source[4:] if source.startswith("mic:") else (settings.audio.input_device if settings else "")
        )
        # iterable, and stopped when reading ends
        return Microphone(device, gate=gate, notify=notify, on_capturing=on_listening)
    path = Path(source)
    if path.is_fifo():
        if on_listening is not None:
            on_listening()
        return _fifo_chunks(path)
    pcm = decode_file(path)
    chunks = array_chunks(pcm[resume(pcm) :] if resume is not None else pcm)
    return paced(chunks) if realtime else chunks


def _fifo_chunks(path: Path) -> Iterator[np.ndarray]:
    with path.open("rb") as pipe:
        yield from stream_chunks(pipe)


def is_live_source(source: str) -> bool:
    return source == "-" or source == "mic" or source.startswith("mic:") or Path(source).is_fifo()


def build_pipeline(
    settings: Settings,
    *,
    transcriber: WhisperTranscriber,
    connector: PmsConnector,
    recognizer: Transcriber | None = None,
    journal: Journal,
    pat_num: int,
    pms_url: str,
    realtime: bool,
    today: dt.date | None = None,
    operatory: int | None = None,
    mode: str = "perio",
    provider: int = 0,
    note_transcriber: WhisperTranscriber | None = None,
    second_ear: Ear | None = None,
) -> Pipeline:
    """One operatory's pipeline. `recognizer` is this pipeline's client of a shared RecognitionService
    (live; several operatories share one model); without it the pipeline recognizes in line with
    `transcriber` (replay). Each pipeline has its own second ear (it hears one stream)."""
    connector.get_patient(pat_num)  # fail early and clearly on an unknown patient

    def notes() -> WhisperTranscriber:
        return note_transcriber or load_note_transcriber(settings, fallback=transcriber)

    return Pipeline(
        segmenter=make_segmenter(settings),
        transcriber=recognizer or transcriber,
        note_transcriber=notes,
        connector=connector,
        journal=journal,
        clips_dir=settings.clips_dir,
        pat_num=pat_num,
        pms_url=pms_url,
        model_name=transcriber.model_info.name,
        options=PipelineOptions(
            min_avg_logprob=settings.asr.min_avg_logprob,
            min_avg_logprob_commands=settings.asr.min_avg_logprob_commands,
            max_no_speech_prob=settings.asr.max_no_speech_prob,
            min_avg_logprob_findings=settings.asr.min_avg_logprob_findings,
            min_margin=settings.asr.min_margin,
            min_margin_findings=settings.asr.min_margin_findings,
            min_avg_logprob_undo_pause_end=settings.asr.min_avg_logprob_undo_pause_end,
            min_word_prob=settings.asr.min_word_prob,
            prompt_echoes=prompt_echoes(settings.asr.initial_prompt),
            path_order=settings.exam.path_order,
            numbering=settings.exam.numbering,
            realtime=realtime,
            pms_wait_s=settings.pms.wait_ms / 1000,
            flush_timeout_s=settings.pms.flush_timeout_s,
            mode=mode,
            provider=provider,
            readback=settings.feedback.readback,
            clip_key=key_from_env(),
        ),
        today=today,
        operatory=operatory,
        second_ear=second_ear or (load_second_ear(settings) if mode == "perio" else None),
    )


def load_second_ear(settings: Settings) -> Ear | None:
    """The pipeline's second ear (asr.second_ear), started now in its own process; None, said once in the
    log, if it is off or cannot start (Whisper then decides alone, as before it existed)."""
    if not settings.asr.second_ear:
        return None
    ear = EarProcess(settings.asr.n_best, frame_ms=settings.vad.frame_ms)
    try:
        ear.load()
    except (ModelError, OSError) as exc:
        log.warning("second ear unavailable, Whisper decides alone: %s", exc)
        return None
    return ear
