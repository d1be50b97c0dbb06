"""The review app's routes: sign-in, today, exams and their charts, every value's source, the review queue,
notes, search, exports, the dashboard, live updates and a small JSON API (described at /openapi.json).

Every route but /health, /login and /static needs a signed-in user; every POST checks the session's CSRF
token; every view of a transcript or audio and every decision is written to the audit log (ids only, never
names or words).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import io
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from voicechart.journal.store import Journal
from voicechart.pms.records import BLANK, SITE_COLUMNS, ExamRecord, MeasureRow, SequenceType
from voicechart.settings import Settings
from voicechart.web import chartview, plots
from voicechart.web.accounts import Accounts, SignedIn, User
from voicechart.web.live import LiveHub
from voicechart.web.openapi import OPENAPI
from voicechart.web.ratelimit import SignInLimiter
from voicechart.web.readmodel import ExamView, ReadModel
from voicechart.web.review import Reviewer, ReviewRefused
from voicechart.web.values import counted, has_flag, journaled_row_text, measure, value_text

_log = logging.getLogger("voicechart.web")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "vc_session"
LOGIN_CSRF_COOKIE = "vc_login_csrf"
OPEN_PATHS = ("/health", "/login", "/static/")
MAX_BODY_BYTES = 256 * 1024  # a corrected note is at most 20,000 characters
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
# Over HTTPS (served with [web] tls_certfile, or behind a TLS proxy that says so in X-Forwarded-Proto): the
# browser keeps to HTTPS for this host for a year, so a later plain-HTTP link cannot strip TLS.
HSTS = "max-age=31536000"


@dataclass
class WebContext:
    settings: Settings
    journal: Journal
    accounts: Accounts
    read: ReadModel
    reviewer: Reviewer
    limiter: SignInLimiter
    live: LiveHub
    connect: Callable[[], Any] | None = None  # opens a PMS connector (patients, previous exams)
    outbox: Any = None
    clip_key: bytes | None = None  # to hear encrypted clips (voicechart.clips)
    _connector: Any = None
    _previous: dict[int, ExamRecord | None] = field(default_factory=dict)
    _patients: dict[int, str] = field(default_factory=dict)
    _providers: dict[int, str] | None = None
    _previous_arches: dict[int, tuple[chartview.ArchView, chartview.ArchView]] = field(default_factory=dict)
    _previous_html: dict[int, str] = field(default_factory=dict)

    def connector(self) -> Any:
        if self._connector is None and self.connect is not None:
            self._connector = self.connect()
        return self._connector

    def people(self) -> dict[int, str]:
        """Who dictated, by ProvNum: the review app's accounts, else the provider's name in the PMS."""
        if self._providers is None:
            try:
                connector = self.connector()
                self._providers = connector.provider_names() if connector else {}
            except Exception:  # the PMS is down: accounts only, asked again on the next page
                return self.accounts.by_prov_num()
        return {**self._providers, **self.accounts.by_prov_num()}

    def patient_name(self, pat_num: int) -> str:
        if pat_num not in self._patients:
            try:
                connector = self.connector()
                self._patients[pat_num] = connector.get_patient(pat_num).display_name if connector else ""
            except Exception:
                return f"patient {pat_num}"
        return self._patients[pat_num] or f"patient {pat_num}"

    def previous_arches(
        self, session_id: int, chart: dict[SequenceType, dict[int, MeasureRow]] | None
    ) -> tuple[chartview.ArchView, chartview.ArchView] | None:
        """The previous exam laid out as a chart: it does not change while an exam is open, so it is laid
        out once per exam (a live page re-renders the exam on every change)."""
        if chart is None:
            return None
        if session_id not in self._previous_arches:
            self._previous_arches[session_id] = chartview.arch_views(chart)
        return self._previous_arches[session_id]

    def previous_html(self, session_id: int, render: Callable[[], str]) -> str:
        """The previous exam's chart as HTML, rendered once per exam (a live page re-renders the rest)."""
        if session_id not in self._previous_html:
            self._previous_html[session_id] = render()
        return self._previous_html[session_id]

    def previous_exam(self, view: ExamView) -> ExamRecord | None:
        sid = view.session.id
        if sid not in self._previous:
            try:
                connector = self.connector()
                day = view.session.started_at.date()
                self._previous[sid] = (
                    connector.previous_exam(view.session.pat_num, day) if connector else None
                )
            except Exception:
                _log.warning("previous exam unavailable (session %d)", sid)
                return None
        return self._previous[sid]

    def kick_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.kick()


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def _user(request: Request) -> SignedIn:
    signed: SignedIn = request.state.signed_in
    return signed


def _audit(request: Request, action: str, object_type: str, object_id: str, detail: str = "") -> None:
    _ctx(request).journal.audit(
        actor=_user(request).user.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


# --- middleware: sign-in on every route, security headers ------------------------------------------------
class GuardMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await self._guarded(request, call_next)
        # the server's own time (pages are rendered before they are returned): bench/web.py reads it
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    async def _guarded(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return _secure(JSONResponse({"error": "the request is too large"}, status_code=413))
        if request.method not in ("GET", "HEAD") and "content-length" not in request.headers:
            return _secure(JSONResponse({"error": "a request body needs a length"}, status_code=411))
        open_path = path in ("/health", "/login", "/favicon.ico") or path.startswith("/static/")
        if not open_path:
            token = request.cookies.get(SESSION_COOKIE, "")
            signed = await run_in_threadpool(_ctx(request).accounts.session, token) if token else None
            if signed is None:
                if (
                    path.startswith("/api/")
                    or path in ("/events", "/openapi.json")
                    or request.method != "GET"
                ):
                    response: Response = JSONResponse({"error": "sign in first"}, status_code=401)
                else:
                    response = RedirectResponse("/login", status_code=303)
                return _secure(response)
            request.state.signed_in = signed
        return _secure(await call_next(request))


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _form(request: Request) -> FormData:
    """The posted form, after checking the CSRF token against the signed-in session."""
    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
    token = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
    if not secrets.compare_digest(token.encode(), _user(request).csrf_token.encode()):
        raise HTTPException(403, "the form is stale or forged: reload the page")
    return form


def _int(value: Any, name: str, low: int = -(2**31), high: int = 2**31 - 1) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise HTTPException(400, f"{name} is out of range")
    return number


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    signed = getattr(request.state, "signed_in", None)
    return templates.TemplateResponse(
        request,
        template,
        {"signed": signed, "csrf": signed.csrf_token if signed else "", **context},
        status_code=status_code,
    )


# --- sign-in -----------------------------------------------------------------------------------------------
async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def login_form(request: Request) -> Response:
    # keep the browser's token: several tabs (or a redirected favicon request) must not stale each other
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    token = (
        existing if 20 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum() else ""
    )
    token = token or secrets.token_urlsafe(24)
    response = _page(request, "login.html", login_csrf=token, error="")
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def favicon(_request: Request) -> Response:
    return Response(status_code=204)


async def login(request: Request) -> Response:
    ctx = _ctx(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(str(form.get("csrf", "")).encode(), cookie.encode()):
        raise HTTPException(403, "the sign-in form is stale: reload the page")
    name = str(form.get("name", "")).strip()[:100]
    password = str(form.get("password", ""))[:1000]
    address = request.client.host if request.client else "?"
    keys = (f"name:{name.lower()}", f"addr:{address}")
    wait = ctx.limiter.retry_after_s(*keys)
    if wait > 0:
        ctx.journal.audit(
            actor=name or "?", action="sign_in_throttled", object_type="user", object_id=name[:60]
        )
        response = _page(
            request,
            "login.html",
            429,
            login_csrf=cookie,
            error=f"Too many failed sign-ins. Try again in {int(wait) + 1} s.",
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = await run_in_threadpool(ctx.accounts.authenticate, name, password)
    if user is None:
        ctx.limiter.failed(*keys)
        ctx.journal.audit(actor=name or "?", action="sign_in_failed", object_type="user", object_id=name[:60])
        return _page(request, "login.html", 401, login_csrf=cookie, error="Wrong name or password.")
    ctx.limiter.succeeded(keys[0])
    token, _signed = ctx.accounts.open_session(user, hours=ctx.settings.web.session_hours)
    ctx.journal.audit(actor=user.name, action="sign_in", object_type="user", object_id=user.name)
    done = RedirectResponse("/", status_code=303)
    _set_cookie(request, done, SESSION_COOKIE, token, max_age=int(ctx.settings.web.session_hours * 3600))
    done.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return done


async def logout(request: Request) -> Response:
    await _form(request)
    _ctx(request).accounts.close_session(request.cookies.get(SESSION_COOKIE, ""))
    _audit(request, "sign_out", "user", _user(request).user.name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=_ctx(request).settings.web.secure_cookies,
        samesite="strict",
    )


# --- pages -------------------------------------------------------------------------------------------------
def _today_context(ctx: WebContext) -> dict[str, Any]:
    operatories = ctx.read.today()
    names = {o.session_id: ctx.patient_name(o.pat_num) for o in operatories}
    people = ctx.people()
    queue = ctx.read.queue()
    return {"operatories": operatories, "names": names, "people": people, "queue": queue}


async def today(request: Request) -> Response:
    ctx = _ctx(request)
    context = await run_in_threadpool(_today_context, ctx)
    fragment = request.query_params.get("fragment") == "1"
    return _page(request, "_today.html" if fragment else "today.html", **context)


async def exams(request: Request) -> Response:
    ctx = _ctx(request)
    sessions = await run_in_threadpool(ctx.read.sessions)
    names = {s.id: ctx.patient_name(s.pat_num) for s in sessions}
    return _page(request, "exams.html", sessions=sessions, names=names, people=ctx.people())


def _exam_context(ctx: WebContext, session_id: int) -> dict[str, Any]:
    view = ctx.read.exam(session_id)
    if view is None:
        raise HTTPException(404, "no such exam")
    previous = ctx.previous_exam(view)
    previous_chart: dict[SequenceType, dict[int, MeasureRow]] | None = None
    if previous is not None:
        previous_chart = {}
        for m in previous.measures:
            previous_chart.setdefault(m.sequence_type, {})[m.tooth] = m
    marks = {k: m.reason for k, m in view.marks.items()}
    arches = chartview.arch_views(view.chart, previous=previous_chart, sources=view.sources, marks=marks)
    previous_arches = ctx.previous_arches(session_id, previous_chart)
    return {
        "view": view,
        "arches": arches,
        "previous": previous,
        "previous_arches": previous_arches,
        "patient": ctx.patient_name(view.session.pat_num),
        "people": ctx.people(),
        "queue": ctx.read.queue(session_id, views={session_id: view}),
    }


async def exam(request: Request) -> Response:
    ctx = _ctx(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    context = await run_in_threadpool(_exam_context, ctx, session_id)
    _audit(request, "view_transcript", "exam_session", str(session_id))
    signed = _user(request)
    context["may_correct"] = signed.user.may_correct(context["view"].session.prov_num)
    if context["previous_arches"] is not None:
        templates: Jinja2Templates = request.app.state.templates
        title = f"Previous exam, {context['previous'].exam_date.isoformat()}"
        chart_macro = templates.env.get_template("_chart.html").module.chart  # type: ignore[attr-defined]
        context["previous_html"] = ctx.previous_html(
            session_id, lambda: str(chart_macro(context["previous_arches"], None, title))
        )
    fragment = request.query_params.get("fragment") == "1"
    return _page(request, "_exam_live.html" if fragment else "exam.html", **context)


def _utterance_context(ctx: WebContext, utterance_id: int) -> dict[str, Any]:
    found = ctx.read.utterance(utterance_id)
    if found is None:
        raise HTTPException(404, "no such utterance")
    utt, commands, edits = found
    session = ctx.read.exam_session(utt.session_id)
    assert session is not None
    return {
        "utt": utt,
        "commands": commands,
        "edits": edits,
        "session": session,
        "people": ctx.people(),
    }


async def utterance(request: Request) -> Response:
    ctx = _ctx(request)
    utterance_id = _int(request.path_params["utterance_id"], "utterance", 1)
    context = await run_in_threadpool(_utterance_context, ctx, utterance_id)
    _audit(request, "view_transcript", "utterance", str(utterance_id))
    context["may_correct"] = _user(request).user.may_correct(context["session"].prov_num)
    context["site"] = await run_in_threadpool(_site_from_query, ctx, request, context["session"].id)
    fragment = request.query_params.get("fragment") == "1"
    return _page(request, "_utterance.html" if fragment else "utterance.html", **context)


def _site_from_query(ctx: WebContext, request: Request, session_id: int) -> dict[str, Any] | None:
    """The value clicked on the chart (tooth, site, sequence type) as the chart holds it now, for the correct
    forms; with a depth, the site's bleeding and suppuration marks too."""
    params = request.query_params
    if not (params.get("tooth") and params.get("site") and params.get("seq")):
        return None
    tooth = _int(params["tooth"], "tooth", 1, 32)
    column = params["site"]
    if column not in SITE_COLUMNS:
        raise HTTPException(400, "unknown site")
    seq = _sequence(params["seq"])
    row = ctx.read.current_row(session_id, seq, tooth)
    site = {"tooth": tooth, "column": column, "seq": int(seq), "value": row.site(column) if row else BLANK}
    if seq is SequenceType.PROBING:
        flags = ctx.read.current_row(session_id, SequenceType.BLEED_SUP_PLAQ_CALC, tooth)
        site["flags"] = flags.site(column) if flags else BLANK
    return site


async def utterance_audio(request: Request) -> Response:
    ctx = _ctx(request)
    utterance_id = _int(request.path_params["utterance_id"], "utterance", 1)
    found = await run_in_threadpool(ctx.read.utterance, utterance_id)
    if found is None:
        raise HTTPException(404, "no such utterance")
    audio = await run_in_threadpool(
        _clip_audio, Path(found[0].clip_path), ctx.settings.clips_dir, ctx.clip_key
    )
    _audit(request, "listen_audio", "utterance", str(utterance_id))
    return Response(audio, media_type="audio/wav")


def _clip_audio(clip: Path, clips_dir: Path, key: bytes | None) -> bytes:
    """The clip's WAV bytes, only if the clip is inside the journal's clips directory (no path tricks)."""
    from voicechart.clips import ClipError, read_clip

    try:
        resolved = clip.resolve(strict=True)
    except (OSError, RuntimeError):
        raise HTTPException(404, "the audio of this utterance is no longer kept") from None
    if not resolved.is_relative_to(clips_dir.resolve()) or not resolved.name.endswith((".wav", ".wav.enc")):
        raise HTTPException(404, "the audio of this utterance is not in the journal's clips")
    try:
        return read_clip(resolved, key=key)
    except ClipError as exc:
        raise HTTPException(404, str(exc)) from None


async def queue_page(request: Request) -> Response:
    ctx = _ctx(request)
    queue = await run_in_threadpool(ctx.read.queue)
    ids = {i.session_id for i in queue.items} | {sid for a in queue.alerts for sid in a.session_ids}
    sessions = {sid: ctx.read.exam_session(sid) for sid in ids}
    names = {sid: ctx.patient_name(s.pat_num) for sid, s in sessions.items() if s}
    _audit(request, "view_transcript", "review_queue", "all", detail=f"{len(queue.items)} items")
    return _page(request, "queue.html", queue=queue, sessions=sessions, names=names)


async def note_page(request: Request) -> Response:
    ctx = _ctx(request)
    note_id = _int(request.path_params["note_id"], "note", 1)
    note = await run_in_threadpool(ctx.read.note, note_id)
    if note is None:
        raise HTTPException(404, "no such note")
    corrections = await run_in_threadpool(ctx.read.corrections_of, note_id)
    passages = await run_in_threadpool(_note_passages, ctx, note)
    session = ctx.read.exam_session(note.session_id) if note.session_id else None
    _audit(request, "view_transcript", "note", str(note_id))
    may = _user(request).user.may_correct(session.prov_num if session else 0)
    return _page(
        request, "note.html", note=note, corrections=corrections, passages=passages, session=session,
        patient=ctx.patient_name(note.pat_num), may_correct=may,
    )  # fmt: skip


def _note_passages(ctx: WebContext, note: Any) -> list[Any]:
    """The utterances a clinical note was dictated in: the session's note passages after the previous note
    (a correction shows the passages of the note it corrects)."""
    if note.session_id is None:
        return []
    view = ctx.read.exam(note.session_id)
    if view is None:
        return []
    originals = [n for n in view.notes if n.supersedes is None]
    target = next((n for n in originals if n.id == (note.supersedes or note.id)), note)
    earlier = [n.created_at for n in originals if n.id < target.id]
    start = max(earlier) if earlier else None
    return [
        u
        for u in view.utterances
        if (u.status == "note" or u.id == target.utterance_id)
        and u.created_at <= target.created_at
        and (start is None or u.created_at > start)
    ]


async def search_page(request: Request) -> Response:
    ctx = _ctx(request)
    params = request.query_params
    words = params.get("q", "")[:200]
    results = await run_in_threadpool(_search, ctx, params)
    names = {s.id: ctx.patient_name(s.pat_num) for s, _ in results}
    if results:
        _audit(request, "view_transcript", "search", "results", detail=f"{len(results)} results")
    return _page(request, "search.html", results=results, names=names, params=params, words=words)


def _search(ctx: WebContext, params: Any) -> list[Any]:
    if not any(params.get(k) for k in ("q", "patient", "date", "operatory", "person")):
        return []
    pat_nums: frozenset[int] | None = None
    patient = params.get("patient", "").strip()[:100]
    if patient:
        if patient.isdigit():
            pat_nums = frozenset({int(patient)})
        else:
            known = {s.pat_num for s in ctx.read.sessions(limit=5000)}
            pat_nums = frozenset(p for p in known if patient.lower() in ctx.patient_name(p).lower())
    day = None
    if params.get("date"):
        try:
            day = dt.date.fromisoformat(params["date"])
        except ValueError:
            raise HTTPException(400, "the date is YYYY-MM-DD") from None
    operatory = _int(params["operatory"], "operatory", 0, 10**6) if params.get("operatory") else None
    prov_num = None
    if params.get("person"):
        people = {name.lower(): prov for prov, name in ctx.people().items()}
        person = params["person"].strip().lower()
        prov_num = people.get(person, int(person) if person.isdigit() else -1)
    return ctx.read.search(
        words=params.get("q", "")[:200], pat_nums=pat_nums, day=day, operatory=operatory, prov_num=prov_num
    )


async def dashboard(request: Request) -> Response:
    ctx = _ctx(request)
    figures = await run_in_threadpool(ctx.read.daily_figures)
    people = ctx.people()
    charts = plots.dashboard_svgs(figures, people)
    return _page(request, "dashboard.html", figures=figures, charts=charts, people=people)


# --- decisions ---------------------------------------------------------------------------------------------
async def _decide(request: Request, act: Callable[[], Any], back: str) -> Response:
    try:
        await run_in_threadpool(act)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    except ReviewRefused as exc:
        raise HTTPException(400, str(exc)) from None
    _ctx(request).kick_outbox()
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"ok": True})
    return RedirectResponse(
        back if back.startswith("/") and not back.startswith("//") else "/", status_code=303
    )


async def confirm_edit(request: Request) -> Response:
    form = await _form(request)
    edit_id = _int(request.path_params["edit_id"], "edit", 1)
    user = _user(request).user
    return await _decide(
        request, lambda: _ctx(request).reviewer.confirm(edit_id, user), str(form.get("back", "/queue"))
    )


async def set_value(request: Request) -> Response:
    form = await _form(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    seq = _sequence(str(form.get("sequence_type", "Probing")))
    tooth = _int(form.get("tooth", ""), "tooth", 1, 32)
    column = str(form.get("column", ""))
    raw = str(form.get("value", "")).strip()
    value = BLANK if raw in ("", "-") else _int(raw, "value", -9, 200)
    user = _user(request).user
    return await _decide(
        request,
        lambda: _ctx(request).reviewer.set_values(session_id, seq, tooth, {column: value}, user),
        str(form.get("back", f"/exams/{session_id}")),
    )


async def set_bleeding(request: Request) -> Response:
    """A site's bleeding and suppuration marks as the form's two boxes say (an unticked box clears)."""
    form = await _form(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    tooth = _int(form.get("tooth", ""), "tooth", 1, 32)
    column = str(form.get("column", ""))
    bleeding, suppuration = "bleeding" in form, "suppuration" in form
    user = _user(request).user
    return await _decide(
        request,
        lambda: _ctx(request).reviewer.set_bleeding(
            session_id, tooth, column, user, bleeding=bleeding, suppuration=suppuration
        ),
        str(form.get("back", f"/exams/{session_id}")),
    )


async def chart_utterance(request: Request) -> Response:
    form = await _form(request)
    utterance_id = _int(request.path_params["utterance_id"], "utterance", 1)
    tooth = _int(form.get("tooth", ""), "tooth", 1, 32)
    side = str(form.get("side", ""))
    depths = tuple(_int(form.get(f"d{i}", ""), "depth", 0, 19) for i in range(3))
    user = _user(request).user
    return await _decide(
        request,
        lambda: _ctx(request).reviewer.chart_utterance(
            utterance_id, user, tooth=tooth, side=side, depths=(depths[0], depths[1], depths[2])
        ),
        str(form.get("back", "/queue")),
    )


async def dismiss_utterance(request: Request) -> Response:
    form = await _form(request)
    utterance_id = _int(request.path_params["utterance_id"], "utterance", 1)
    user = _user(request).user
    return await _decide(
        request,
        lambda: _ctx(request).reviewer.dismiss(utterance_id, user, str(form.get("reason", ""))),
        str(form.get("back", "/queue")),
    )


async def resolve_alert(request: Request) -> Response:
    form = await _form(request)
    alert_id = _int(request.path_params["alert_id"], "alert", 1)
    user = _user(request).user
    return await _decide(
        request,
        lambda: _ctx(request).reviewer.resolve_alert(alert_id, user),
        str(form.get("back", "/queue")),
    )


async def correct_note(request: Request) -> Response:
    form = await _form(request)
    note_id = _int(request.path_params["note_id"], "note", 1)
    text = str(form.get("text", ""))
    user = _user(request).user
    return await _decide(
        request, lambda: _ctx(request).reviewer.correct_note(note_id, text, user), f"/notes/{note_id}"
    )


def _sequence(name: str) -> SequenceType:
    for seq in SequenceType:
        if seq.api_name.lower() == name.lower() or str(int(seq)) == name:
            return seq
    raise HTTPException(400, f"unknown sequence type {name[:40]!r}")


# --- exports -----------------------------------------------------------------------------------------------
async def export_csv(request: Request) -> Response:
    ctx = _ctx(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    view = await run_in_threadpool(ctx.read.exam, session_id)
    if view is None:
        raise HTTPException(404, "no such exam")
    out = io.StringIO()
    csv.writer(out).writerows(chartview.csv_rows(view.chart))
    _audit(request, "export_chart", "exam_session", str(session_id), detail="csv")
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="exam-{session_id}.csv"'},
    )


async def export_pdf(request: Request) -> Response:
    from voicechart.web.pdf import chart_pdf

    ctx = _ctx(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    context = await run_in_threadpool(_exam_context, ctx, session_id)
    data = await run_in_threadpool(chart_pdf, context["view"], context["arches"], context["patient"])
    _audit(request, "export_chart", "exam_session", str(session_id), detail="pdf")
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="exam-{session_id}.pdf"'},
    )


# --- live and JSON -----------------------------------------------------------------------------------------
async def events(request: Request) -> Response:
    ctx = _ctx(request)
    raw = request.query_params.get("session")
    session_id = _int(raw, "session", 1) if raw else None
    return StreamingResponse(
        ctx.live.events(session_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _chart_json(view: ExamView) -> dict[str, Any]:
    rows = []
    for seq, by_tooth in sorted(view.chart.items()):
        for tooth, row in sorted(by_tooth.items()):
            rows.append(
                {
                    "SequenceType": seq.api_name,
                    "IntTooth": tooth,
                    "ToothValue": row.tooth_value,
                    "sites": dict(zip(SITE_COLUMNS, row.sites, strict=True)),
                }
            )
    marks = [
        {
            "SequenceType": SequenceType(k[0]).api_name,
            "IntTooth": k[1],
            "site": k[2],
            "reason": m.reason,
            "edit": m.edit_id,
        }
        for k, m in sorted(view.marks.items())
    ]
    return {
        "session": view.session.id,
        "exam_num": view.session.exam_num,
        "pat_num": view.session.pat_num,
        "operatory": view.session.operatory,
        "rows": rows,
        "marks": marks,
        "utterances": len(view.utterances),
        "pending": view.pending,
        "refused": view.rejected,
    }


async def api_exam(request: Request) -> Response:
    ctx = _ctx(request)
    session_id = _int(request.path_params["session_id"], "exam", 1)
    view = await run_in_threadpool(ctx.read.exam, session_id)
    if view is None:
        return JSONResponse({"error": "no such exam"}, status_code=404)
    _audit(request, "view_transcript", "exam_session", str(session_id), detail="api")
    return JSONResponse(_chart_json(view))


async def api_queue(request: Request) -> Response:
    queue = await run_in_threadpool(_ctx(request).read.queue)
    _audit(request, "view_transcript", "review_queue", "all", detail="api")
    return JSONResponse(
        {
            "items": [
                {
                    "kind": i.kind,
                    "session": i.session_id,
                    "utterance": i.utterance_id,
                    "edit": i.edit_id,
                    "text": i.text,
                    "reason": i.reason,
                    "sites": [list(s) for s in i.sites],
                    "values": list(i.values),
                }
                for i in queue.items
            ],
            "pending_edits": queue.pending_edits,
            "pending_notes": queue.pending_notes,
        }
    )


async def api_search(request: Request) -> Response:
    ctx = _ctx(request)
    results = await run_in_threadpool(_search, ctx, request.query_params)
    _audit(request, "view_transcript", "search", "results", detail=f"api, {len(results)} results")
    return JSONResponse(
        [
            {
                "session": s.id,
                "kind": "note" if hasattr(r, "kind") and hasattr(r, "raw_text") else "utterance",
                "id": r.id,
                "text": r.text,
            }
            for s, r in results
        ]
    )


async def openapi(_request: Request) -> Response:
    return JSONResponse(OPENAPI)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/") or request.headers.get("accept", "").startswith(
        "application/json"
    ):
        return _secure(JSONResponse({"error": exc.detail}, status_code=exc.status_code))
    return _secure(_page(request, "error.html", exc.status_code, message=exc.detail, status=exc.status_code))


# --- the app -----------------------------------------------------------------------------------------------
def create_app(
    settings: Settings,
    *,
    journal: Journal | None = None,
    connect: Callable[[], Any] | None = None,
    outbox: Any = None,
    clip_key: bytes | None = None,
) -> Starlette:
    """The review app on the journal of `settings` (or `journal`). `connect` opens a PMS connector for patient
    names and previous exams; `outbox`, if given, is started with the app and kicked after every decision."""
    owns_journal = journal is None
    journal = journal or Journal(settings.journal_url)
    read = ReadModel(journal)
    ctx = WebContext(
        settings=settings,
        journal=journal,
        accounts=Accounts(journal),
        read=read,
        reviewer=Reviewer(journal, path_order=settings.exam.path_order),
        limiter=SignInLimiter(
            max_failures=settings.web.sign_in_max_failures, window_s=settings.web.sign_in_window_s
        ),
        live=LiveHub(read, poll_s=settings.web.live_poll_ms / 1000),
        connect=connect,
        outbox=outbox,
        clip_key=clip_key,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the app: keep it out of the collector's full passes,
        # which otherwise scan it all and stall a page by ~100 ms every few requests (bench/web.py).
        gc.collect()
        gc.freeze()
        await ctx.live.start()
        if outbox is not None:
            outbox.start()
        try:
            yield
        finally:
            await ctx.live.stop()
            if outbox is not None:
                await run_in_threadpool(outbox.stop, flush_timeout_s=5.0)
            if ctx._connector is not None:
                ctx._connector.close()
            if owns_journal:
                journal.close()

    routes = [
        Route("/health", health),
        Route("/favicon.ico", favicon),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", today),
        Route("/exams", exams),
        Route("/exams/{session_id}", exam),
        Route("/exams/{session_id}/values", set_value, methods=["POST"]),
        Route("/exams/{session_id}/bleeding", set_bleeding, methods=["POST"]),
        Route("/exams/{session_id}/export.csv", export_csv),
        Route("/exams/{session_id}/export.pdf", export_pdf),
        Route("/utterances/{utterance_id}", utterance),
        Route("/utterances/{utterance_id}/audio.wav", utterance_audio),
        Route("/utterances/{utterance_id}/chart", chart_utterance, methods=["POST"]),
        Route("/utterances/{utterance_id}/dismiss", dismiss_utterance, methods=["POST"]),
        Route("/alerts/{alert_id}/resolve", resolve_alert, methods=["POST"]),
        Route("/edits/{edit_id}/confirm", confirm_edit, methods=["POST"]),
        Route("/queue", queue_page),
        Route("/notes/{note_id}", note_page),
        Route("/notes/{note_id}/correct", correct_note, methods=["POST"]),
        Route("/search", search_page),
        Route("/dashboard", dashboard),
        Route("/events", events),
        Route("/api/exams/{session_id}", api_exam),
        Route("/api/queue", api_queue),
        Route("/api/search", api_search),
        Route("/openapi.json", openapi),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["people_name"] = lambda people, prov: people.get(
        prov, f"provider {prov}" if prov else "—"
    )
    templates.env.globals.update(
        measure=measure, value_text=value_text, row_text=journaled_row_text, has_flag=has_flag
    )
    templates.env.filters["counted"] = counted
    app.state.templates = templates
    app.state.ctx = ctx
    return app


def signed_in_user(request: Request) -> User:
    return _user(request).user


Handler = Callable[[Request], Awaitable[Response]]
