"""The command line: `voicechart demo | replay | listen | serve | web | users | models | chart | pms init`.

Settings are built once here and passed down. Errors a user can fix print one clear line and exit 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from voicechart.audit_cli import audit_app
from voicechart.errors import VoicechartError
from voicechart.retention_cli import retention_app
from voicechart.settings import SAMPLES_DIR, Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Voice-to-PMS perio charting, fully local."
)
pms_app = typer.Typer(no_args_is_help=True, help="The practice-management system (PMS) connection.")
app.add_typer(pms_app, name="pms")
users_app = typer.Typer(no_args_is_help=True, help="People who sign in to the review app.")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")

PmsOption = Annotated[
    str | None,
    typer.Option(
        "--pms",
        "--pms-url",
        help="PMS: an Open Dental API URL (http(s)://…/api/v1, keys from VOICECHART_OD_DEVELOPER_KEY and "
        "VOICECHART_OD_CUSTOMER_KEY), or a sandbox database URL (sqlite:///…, mysql+pymysql://…). "
        "Default: the embedded sandbox.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per utterance on stdout.")]
DEMO_SAMPLE = "a-piper-joe"


def _settings(pms: str | None = None) -> Settings:
    overrides: dict[str, Any] = {"pms_url": pms} if pms else {}
    settings = load_settings(**overrides)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _color() -> bool:
    return sys.stdout.isatty()


# --- pms ---------------------------------------------------------------------------------------------------
@pms_app.command("init")
def pms_init(
    pms: PmsOption = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Add demo providers, operatories, patients, appointments.")
    ] = False,
) -> None:
    """Create the sandbox PMS database (Open Dental's table shapes). Never run against a real Open Dental."""
    from voicechart.pms.sandbox.schema import create_sandbox
    from voicechart.pms.sandbox.seed import seed_demo
    from voicechart.runner import is_api_url

    settings = _settings(pms)
    url = settings.resolved_pms_url
    if is_api_url(url):
        raise VoicechartError("pms init creates a sandbox database; it takes a database URL, not an API URL")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        create_sandbox(engine)
        typer.echo(f"Sandbox PMS ready: {_redact(url)}")
        if demo:
            summary = seed_demo(engine, dt.date.today())
            verb = "added" if summary.created else "already present"
            typer.echo(
                f"Demo data {verb}: patients {list(summary.patients)}, "
                f"operatories {list(summary.operatories)}"
            )
    finally:
        engine.dispose()


@pms_app.command("serve")
def pms_serve(
    pms: PmsOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (Open Dental's API Service uses 30223).")] = 30223,
    throttle: Annotated[
        bool, typer.Option("--throttle", help="Behave like the remote API: 1 request per second per key.")
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo data first.")] = False,
) -> None:
    """Serve the sandbox over Open Dental's REST API (the documented subset) at http://HOST:PORT/api/v1.

    The keys it accepts are VOICECHART_OD_DEVELOPER_KEY and VOICECHART_OD_CUSTOMER_KEY from the environment.
    """

    import sqlalchemy as sa
    import uvicorn

    from voicechart.pms.sandbox.api import SandboxApi
    from voicechart.pms.sandbox.schema import create_sandbox
    from voicechart.pms.sandbox.seed import seed_demo
    from voicechart.runner import is_api_url

    settings = _settings(pms)
    url = settings.resolved_pms_url
    if is_api_url(url):
        raise VoicechartError("pms serve serves a sandbox database; give --pms a database URL")
    from voicechart.secrets import api_keys

    developer, customer = api_keys(development=settings.development)  # the keys clients must send
    sqlite = url.startswith("sqlite")
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {},
    )
    create_sandbox(engine)
    if demo:
        seed_demo(engine, dt.date.today())
    api = SandboxApi(
        engine, developer_key=developer, customer_key=customer, throttle_s=1.0 if throttle else 0.0
    )
    mode = "throttled to 1 request/s per key (like the remote API)" if throttle else "not throttled"
    typer.echo(f"Open Dental API (sandbox {_redact(url)}) on http://{host}:{port}/api/v1, {mode}", err=True)
    try:
        uvicorn.run(api.app(), host=host, port=port, log_level="warning")
    finally:
        engine.dispose()


# --- outbox ------------------------------------------------------------------------------------------------
@app.command()
def outbox(
    pms: PmsOption = None,
    flush: Annotated[bool, typer.Option("--flush", help="Deliver what is waiting, now.")] = False,
) -> None:
    """What the journal holds for the PMS that the PMS has not taken yet (and what it refused)."""
    from voicechart.journal.store import Journal
    from voicechart.pms.outbox import Outbox
    from voicechart.runner import open_connector

    settings = _settings(pms)
    url = settings.resolved_pms_url
    journal = Journal(settings.journal_url)
    try:
        if flush:
            connector = open_connector(url, settings)
            try:
                result = Outbox(journal, connector, pms_url=url).drain()
            finally:
                connector.close()
            typer.echo(f"Delivered {result.committed_edits} edits in {result.written} writes.")
            if result.error:
                typer.echo(f"Stopped: {result.error}")
        edits = journal.pending_edits(pms_url=url)
        notes = journal.pending_notes(url)
        typer.echo(f"Waiting for {_redact(url)}: {len(edits)} chart edits, {len(notes)} notes.")
        for edit in edits[:20]:
            why = f" — last attempt: {edit.pms_error}" if edit.pms_error else ""
            typer.echo(
                f"  exam {edit.exam_num} tooth {edit.tooth} (edit {edit.id}, {edit.attempts} attempts){why}"
            )
        rejected = journal.rejected_edits()
        if rejected:
            typer.echo(f"Refused by the PMS ({len(rejected)}), for a person to look at:")
            for edit in rejected[:20]:
                typer.echo(f"  exam {edit.exam_num} tooth {edit.tooth} (edit {edit.id}): {edit.pms_error}")
        for alert in journal.alerts(pms_url=url):
            typer.echo(
                f"In the PMS, for a person: exam {alert.exam_num} and exam {alert.other_num}: {alert.detail}."
            )
    finally:
        journal.close()


# --- the review app ----------------------------------------------------------------------------------------
@app.command()
def web(
    port: Annotated[int | None, typer.Option("--port", help="Port (default: [web] port, 8765).")] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1: this machine only).")
    ] = None,
    pms: PmsOption = None,
) -> None:
    """The clinic lead's review app: live charts, every value with its audio, corrections to the PMS."""
    from voicechart.web.cli import run_web

    run_web(_settings(pms), host=host, port=port)


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="hygienist, dentist, clinic_lead or admin.")],
    provider: Annotated[
        int, typer.Option("--provider", help="Their ProvNum in the PMS: they may correct what they dictated.")
    ] = 0,
) -> None:
    """Add a person (password asked twice; or one line on stdin, or VOICECHART_NEW_PASSWORD)."""
    from voicechart.web import cli as web_cli

    web_cli.users_add(_settings(), name, role, provider)


@users_app.command("list")
def users_list() -> None:
    """Everyone who may sign in, with their role."""
    from voicechart.web import cli as web_cli

    web_cli.users_list(_settings())


@users_app.command("password")
def users_password(name: str) -> None:
    """Set a new password (closes the person's open sign-ins)."""
    from voicechart.web import cli as web_cli

    web_cli.users_password(_settings(), name)


@users_app.command("disable")
def users_disable(
    name: str, enable: Annotated[bool, typer.Option("--enable", help="Enable again instead.")] = False
) -> None:
    """Stop a person signing in (their open sign-ins end at once)."""
    from voicechart.web import cli as web_cli

    web_cli.users_disable(_settings(), name, not enable)


# --- clips -----------------------------------------------------------------------------------------------
clips_app = typer.Typer(no_args_is_help=True, help="Utterance audio in the journal.")
app.add_typer(clips_app, name="clips")


@clips_app.command("new-key")
def clips_new_key() -> None:
    """A new clip key: put it in VOICECHART_CLIP_KEY (never in a file in the repository); clips written from
    then on are encrypted with it. Keep it safe: without it those clips cannot be heard."""
    from voicechart.clips import new_key

    typer.echo(new_key())


# --- models ------------------------------------------------------------------------------------------------
@app.command()
def models() -> None:
    """Which Whisper model resolves, and from where."""
    from voicechart.asr.models import KNOWN_MODELS
    from voicechart.errors import ModelError
    from voicechart.runner import resolve

    settings = _settings()
    for name in KNOWN_MODELS:
        candidate = settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": name})})
        marker = "*" if name == settings.asr.model else " "
        try:
            resolved = resolve(candidate)
        except ModelError as exc:
            typer.echo(f"{marker} {name:8} not available: {exc}")
        else:
            typer.echo(f"{marker} {name:8} {resolved.source}: {resolved.path}")
    typer.echo("(* = the configured model, asr.model / VOICECHART_ASR__MODEL)")


@app.command()
def devices() -> None:
    """The sound devices PortAudio sees (for audio.input_device / audio.output_device, or --source mic:N)."""
    from voicechart.audio.microphone import list_devices

    found = list_devices()
    if not found:
        typer.echo(
            "No sound devices found (is PortAudio's libportaudio2 installed? is a sound server running?)."
        )
        return
    for d in found:
        default = ("default input " if d.is_default_input else "") + (
            "default output" if d.is_default_output else ""
        )
        typer.echo(
            f"{d.index:3}  {d.name:40} {d.host_api:10} in {d.max_input_channels:2}  "
            f"out {d.max_output_channels:2}  "
            f"{d.default_samplerate:7.0f} Hz  {default}".rstrip()
        )


# --- replay / listen ---------------------------------------------------------------------------------------
def _stoppable(run: Callable[P, R]) -> Callable[P, R]:
    """`run`, stopped by Ctrl-C or SIGTERM (`_stop_on_signals`) from its first line to its last."""

    @functools.wraps(run)
    def stoppable(*args: P.args, **kwargs: P.kwargs) -> R:
        with _stop_on_signals():
            return run(*args, **kwargs)

    return stoppable


@_stoppable
def _run(
    settings: Settings,
    sources: Iterable[str],
    *,
    pat_num: int | None,
    realtime: bool,
    as_json: bool,
    show_chart: bool,
    operatory: int | None = None,
    mode: str = "perio",
    provider: int = 0,
    feedback: bool = False,
) -> int:
    from voicechart.asr.service import RecognitionService
    from voicechart.audio.gate import PlaybackGate
    from voicechart.journal.store import Journal
    from voicechart.render import render_chart
    from voicechart.runner import (
        build_pipeline,
        load_transcriber,
        open_connector,
        source_chunks,
    )

    url = settings.resolved_pms_url
    started = time.perf_counter()
    transcriber = load_transcriber(settings)
    # Live, recognition runs on its own worker (early-end probes start while audio keeps arriving); a replay
    # recognizes in line, so its results never depend on how fast the machine is.
    service = RecognitionService(transcriber) if realtime else None
    gate = PlaybackGate(settings.feedback.gate_tail_ms / 1000)
    player = _feedback_player(settings, gate) if feedback else None
    journal = Journal(settings.journal_url)
    connector = open_connector(url, settings)
    results = []
    try:
        if pat_num is None:
            pat_num = _patient_in_operatory(connector, operatory, err=as_json)
        listening = f"Listening (patient {pat_num}); say “end exam” or press Ctrl-C to stop."
        for source in sources:
            pipeline = build_pipeline(
                settings,
                transcriber=transcriber,
                recognizer=service.client(f"operatory-{operatory or 0}") if service else None,
                connector=connector,
                journal=journal,
                pat_num=pat_num,
                pms_url=url,
                realtime=realtime,
                operatory=operatory,
                mode=mode,
                provider=provider,
            )
            chunks = source_chunks(
                source,
                realtime=realtime,
                settings=settings,
                gate=gate,
                notify=_notify,
                resume=pipeline.resume_offset,
                on_listening=lambda: typer.echo(listening, err=True),  # a microphone: once it captures
            )
            stopped = False
            try:
                for result in pipeline.run(chunks):
                    results.append(result)
                    if player is not None:
                        speak = result.speak and result.readback_on
                        player.on_result(result.status, result.commands, result.readback, speak)
                    if as_json:
                        typer.echo(json.dumps(result.to_json()))
                    else:
                        _echo_result(result)
            except KeyboardInterrupt:  # Ctrl-C: everything heard so far is journaled; deliver it and show it
                typer.echo("Stopped.", err=True)
                stopped = True
            pending = pipeline.retry_pending()
            if pending:
                typer.echo(
                    f"WARNING: {pending} edits are not in the PMS yet ({pipeline.outbox.last_error}). They "
                    "are kept in the journal and go at the next run, or with `voicechart outbox --flush`.",
                    err=True,
                )
            if pipeline.exam is not None:
                for alert in journal.alerts(exam_num=pipeline.exam.exam_num, pms_url=url):
                    typer.echo(
                        f"WARNING: exam {alert.other_num} beside exam {alert.exam_num}: {alert.detail}.",
                        err=True,
                    )
            if show_chart and pipeline.exam is not None:
                chart = connector.read_chart(pipeline.exam.exam_num)
                title = f"Perio chart in the PMS — patient {pat_num}, exam {pipeline.exam.exam_num}"
                typer.echo(render_chart(chart, title=title, color=_color()), err=as_json)
            if stopped:  # Ctrl-C stops the run, not only the source being heard
                break
    finally:
        if player is not None:
            player.close()
        if service is not None:
            service.stop()
        connector.close()
        journal.close()
    elapsed = time.perf_counter() - started
    if show_chart:
        _echo_timing(results, elapsed, transcriber.load_seconds, err=as_json)
    return 0


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM (a service manager stopping the operatory) end a run the same way: the
    first one stops it (KeyboardInterrupt), and later ones are ignored until the run has delivered what it
    heard and shown it, so that a second Ctrl-C cannot cut the outbox's last delivery or the journal's close
    in half. SIGINT is taken back even where it was inherited as ignored (a command started in the
    background from a script), so `kill -INT` always stops a run. The previous handlers are restored
    afterwards; off the main thread signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop(signum: int, frame: FrameType | None) -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    with _signals_held(signals):
        previous = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        yield
    finally:
        with _signals_held(signals):
            for sig, handler in previous.items():
                if handler is not None:  # None: installed outside Python, cannot be put back
                    signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_held(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """Signals arriving meanwhile wait (a handler swap is never cut halfway)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _notify(message: str) -> None:
    typer.echo(message, err=True)


def _feedback_player(settings: Settings, gate: Any) -> Any:
    """Earcons (and readback if enabled) on the operatory's speaker; without one, say so and go on."""
    from voicechart.feedback.player import Feedback
    from voicechart.feedback.tts import EspeakReadback

    f = settings.feedback
    try:
        return Feedback(
            gate,
            output_device=settings.audio.output_device,
            earcons=f.earcons,
            readback=EspeakReadback(voice=f.voice),
            notify=_notify,
        )
    except VoicechartError as exc:
        _notify(f"no confirmation sounds: {exc}")
        return None


def _patient_in_operatory(connector: Any, operatory: int | None, *, err: bool) -> int:
    if operatory is None:
        raise VoicechartError(
            "say which patient: --patient PATNUM, or --operatory N to take today's schedule"
        )
    now = dt.datetime.now()
    appointment = connector.appointment_in_operatory(operatory, now)
    if appointment is None:
        raise VoicechartError(f"no appointment in operatory {operatory} today; give --patient PATNUM")
    when = appointment.start.strftime("%H:%M")
    typer.echo(f"Operatory {operatory}: patient {appointment.pat_num} (appointment at {when})", err=err)
    return int(appointment.pat_num)


def _echo_result(result: Any) -> None:
    mark = {"applied": "✓", "flagged": "?", "transcript_only": "·", "noise": "~", "note": "✎"}.get(
        result.status, " "
    )
    line = f"{mark} [{result.audio['start_s']:6.2f}s] {result.text!r:45} {result.status}"
    if result.readback:
        line += f" → {result.readback}"
    if result.flags:
        line += f"  (flag: {'; '.join(result.flags)})"
    if result.pms_pending:
        line += f"  [{result.pms_pending} not in the PMS yet]"
    typer.echo(line)


def _echo_timing(results: list[Any], elapsed: float, load_s: float, *, err: bool) -> None:
    import statistics

    per = [r.latency_ms["speech_end_to_pms"] for r in results if "speech_end_to_pms" in r.latency_ms]
    asr = [r.latency_ms["asr"] for r in results]
    typer.echo("", err=err)
    typer.echo(
        f"{len(results)} utterances in {elapsed:.1f} s (model load {load_s:.2f} s); "
        f"recognition median {statistics.median(asr) if asr else 0:.0f} ms; "
        f"end of speech → PMS median {statistics.median(per) if per else 0:.0f} ms per charted utterance",
        err=err,
    )


@app.command()
def replay(
    paths: Annotated[list[Path], typer.Argument(help="Audio files (wav, flac, mp3, ogg, …).")],
    patient: Annotated[int, typer.Option("--patient", help="PatNum of the patient being charted.")],
    pms: PmsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay recorded dictation through the pipeline as fast as the machine allows."""
    settings = _settings(pms)
    _run(
        settings,
        [str(p) for p in paths],
        pat_num=patient,
        realtime=False,
        as_json=as_json,
        show_chart=not as_json,
    )


@app.command()
def listen(
    patient: Annotated[
        int | None, typer.Option("--patient", help="PatNum of the patient being charted.")
    ] = None,
    operatory: Annotated[
        int | None,
        typer.Option("--operatory", help="Take the patient from today's schedule in this operatory."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="mic (the operatory's or the configured input device), mic:NAME or mic:INDEX, '-' (raw "
            "s16le 16 kHz mono PCM on stdin), a named pipe carrying the same, or an audio file. "
            "Default: stdin when something is piped into it, else the microphone.",
        ),
    ] = None,
    feedback: Annotated[
        bool | None,
        typer.Option(
            "--feedback/--no-feedback",
            help="Earcons (and readback if enabled) on the output device. Default: on for a microphone.",
        ),
    ] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Pace a file at speaking speed.")] = False,
    mode: Annotated[
        str,
        typer.Option("--mode", help="perio (charting; 'start note' opens a note) or note (a clinical note)."),
    ] = "perio",
    provider: Annotated[
        int, typer.Option("--provider", help="ProvNum of the person dictating (default: patient's provider).")
    ] = 0,
    pms: PmsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The live pipeline. Ends at the end of input, on "end exam", or (--mode note) on "end note"."""
    if mode not in ("perio", "note"):
        raise VoicechartError("--mode is perio or note")
    from voicechart.runner import is_live_source

    settings = _settings(pms)
    if source is None:
        source = "-" if not sys.stdin.isatty() else "mic"
    if source == "mic" and operatory is not None:
        source = _operatory_source(str(operatory), settings).source  # that operatory's own microphone
    live = realtime or is_live_source(source)
    _run(
        settings,
        [source],
        pat_num=patient,
        operatory=operatory,
        realtime=live,
        as_json=as_json,
        show_chart=not as_json and mode == "perio",
        mode=mode,
        provider=provider,
        feedback=source.startswith("mic") if feedback is None else feedback,
    )


@app.command()
def serve(
    operatory: Annotated[
        list[str] | None,
        typer.Option(
            "--operatory",
            help="N or N=SOURCE (mic, mic:NAME, a named pipe, a file); repeat for each operatory. "
            "Default: the [[operatories]] of the settings, each on its input_device.",
        ),
    ] = None,
    pms: PmsOption = None,
    as_json: JsonOption = False,
    feedback: Annotated[
        bool, typer.Option("--feedback/--no-feedback", help="Earcons (and readback) for microphones.")
    ] = True,
    web: Annotated[
        bool,
        typer.Option(
            "--web/--no-web", help="Also serve the review app ([web] host and port) once users exist."
        ),
    ] = True,
    web_port: Annotated[int | None, typer.Option("--web-port", help="The review app's port.")] = None,
) -> None:
    """A station: every operatory's pipeline in one process, sharing one loaded model, served in turn.
    Each operatory takes its patient from today's schedule; on a microphone it goes on with the next
    scheduled patient after "end exam". With users added, it serves the review app too. Ctrl-C or SIGTERM
    stops it: each operatory charts and delivers what it heard up to then."""
    settings = _settings(pms)
    with _stop_on_signals():
        _serve(settings, operatory or [], as_json=as_json, feedback=feedback, web=web, web_port=web_port)


def _serve(
    settings: Settings,
    operatories: list[str],
    *,
    as_json: bool,
    feedback: bool,
    web: bool,
    web_port: int | None,
) -> None:
    from voicechart.runner import load_transcriber
    from voicechart.station import OperatorySource, Station

    sources = [_operatory_source(spec, settings) for spec in operatories] or [
        OperatorySource(o.number, f"mic:{o.input_device}" if o.input_device else "mic", o.output_device)
        for o in settings.operatories
    ]
    if not sources:
        raise VoicechartError(
            "no operatories: give --operatory N[=SOURCE] or add [[operatories]] to the settings"
        )

    def report(number: int, result: Any) -> None:
        if as_json:
            typer.echo(json.dumps({"operatory": number, **result.to_json()}))
        else:
            typer.echo(f"[op {number}] ", nl=False)
            _echo_result(result)

    station = Station(
        settings,
        sources,
        transcriber=load_transcriber(settings),
        report=report,
        notify=_notify,
        feedback=feedback and any(s.source.startswith("mic") for s in sources),
    )
    if web:
        from voicechart.web.cli import start_web_in_background

        start_web_in_background(settings, port=web_port)
    try:
        failed = station.run()
    except KeyboardInterrupt:  # every operatory has charted and delivered what it heard (Station.run)
        typer.echo("Stopped.", err=True)
        for number in station.unstopped:
            typer.echo(
                f"WARNING: operatory {number} did not finish in time; what it heard is in the journal and "
                "goes to the PMS at the next run, or with `voicechart outbox --flush`.",
                err=True,
            )
        failed = len(station.failures)
    if failed:
        raise VoicechartError(f"{failed} operatory(ies) stopped: {station.failures}")


def _operatory_source(spec: str, settings: Settings) -> Any:
    from voicechart.station import OperatorySource

    number, _, source = spec.partition("=")
    if not number.strip().isdigit():
        raise VoicechartError(f"--operatory takes N or N=SOURCE, not {spec!r}")
    configured = {o.number: o for o in settings.operatories}.get(int(number))
    device = configured.input_device if configured else settings.audio.input_device
    output = configured.output_device if configured else settings.audio.output_device
    return OperatorySource(int(number), source or (f"mic:{device}" if device else "mic"), output)


@app.command()
def chart(
    patient: Annotated[int, typer.Option("--patient", help="PatNum.")],
    pms: PmsOption = None,
) -> None:
    """Print the patient's latest perio exam as the PMS holds it."""
    from voicechart.render import render_chart
    from voicechart.runner import open_connector

    settings = _settings(pms)
    connector = open_connector(settings.resolved_pms_url, settings)
    try:
        exam = connector.previous_exam(patient, dt.date.today() + dt.timedelta(days=1))
        if exam is None:
            typer.echo(f"Patient {patient} has no perio exam.")
            return
        title = f"Perio chart — patient {patient}, exam {exam.exam_num} of {exam.exam_date}"
        typer.echo(render_chart(connector.read_chart(exam.exam_num), title=title, color=_color()))
    finally:
        connector.close()


# --- demo --------------------------------------------------------------------------------------------------
@app.command()
def demo(
    sample: Annotated[
        str, typer.Option("--sample", help="Sample id from samples/manifest.json.")
    ] = DEMO_SAMPLE,
    pms: PmsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sandbox PMS + demo patient + a sample dictation through the real pipeline, then the chart.

    With --pms pointing at an Open Dental API (e.g. `voicechart pms serve --demo`), the demo data must already
    be there; today's earlier demo exam of the patient is deleted through the API first."""
    import sqlalchemy as sa

    from voicechart.pms.sandbox.schema import create_sandbox
    from voicechart.pms.sandbox.seed import DEMO_PATIENTS, seed_demo
    from voicechart.runner import is_api_url
    from voicechart.sandbox_tools import clear_exam_on

    settings = _settings(pms)
    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
    entries = {s["id"]: s for s in manifest["samples"]}
    if sample not in entries:
        raise VoicechartError(f"no sample {sample!r}; choose one of {', '.join(entries)}")
    entry = entries[sample]
    wanted = set(entry["patient"]["missing_teeth"])
    patient = next(p for p in DEMO_PATIENTS if set(p.missing_teeth) | set(p.hidden_teeth) == wanted)
    url = settings.resolved_pms_url
    if is_api_url(url):
        if _clear_exam_via_api(url, settings, patient.pat_num):
            typer.echo(f"(deleted today's exam of patient {patient.pat_num} via the API)", err=as_json)
    else:
        engine = sa.create_engine(url)
        try:
            create_sandbox(engine)
            seed_demo(engine, dt.date.today())
            if clear_exam_on(engine, patient.pat_num, dt.date.today()):
                typer.echo(
                    f"(cleared today's earlier demo exam of patient {patient.pat_num} in the sandbox)",
                    err=as_json,
                )
        finally:
            engine.dispose()
    typer.echo(
        f"Sandbox PMS: {_redact(url)}\nPatient {patient.pat_num} ({patient.first_name} {patient.last_name}), "
        f"missing teeth {sorted(wanted) or 'none'}; dictation: samples/{entry['audio']} ({entry['voice']})\n",
        err=as_json,
    )
    _run(
        settings,
        [str(SAMPLES_DIR / entry["audio"])],
        pat_num=patient.pat_num,
        realtime=False,
        as_json=as_json,
        show_chart=True,
    )


def _clear_exam_via_api(url: str, settings: Settings, pat_num: int) -> bool:

    from voicechart.pms.odapi.client import OpenDentalApi
    from voicechart.secrets import api_keys

    developer, customer = api_keys(development=settings.development)
    api = OpenDentalApi(
        url, developer_key=developer, customer_key=customer, timeout_s=settings.pms.api_timeout_s
    )
    try:
        today = dt.date.today().isoformat()
        exams = [e for e in api.get_all("perioexams", PatNum=pat_num) if e["ExamDate"] == today]
        for exam in exams:
            api.delete(f"perioexams/{exam['PerioExamNum']}")
        return bool(exams)
    finally:
        api.close()


def _redact(url: str) -> str:
    from voicechart.journal.store import redact_url

    return redact_url(url)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except VoicechartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
