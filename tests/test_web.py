"""The review app through its HTTP interface: sign-in, roles, CSRF, audit, corrections that reach the PMS
through the outbox, notes corrected as history, audio, search, exports. A real journal and a real sandbox PMS;
the exam is journaled as the pipeline journals one (the browser tests use the real pipeline)."""

from __future__ import annotations

import datetime as dt
import re
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, update
from starlette.testclient import TestClient

from tests.web_fixtures import (
    Clinic,
    client_for,
    csrf_of,
    open_clinic,
    record,
    self_signed_certificate,
    sign_in,
)
from voicechart.journal.tables import ExamSessionRow, UtteranceRow, WebSessionRow
from voicechart.loopback import free_port
from voicechart.pms.outbox import DUPLICATE_EXAM
from voicechart.pms.records import SequenceType
from voicechart.pms.sandbox.schema import procnote
from voicechart.settings import Settings
from voicechart.web.accounts import Accounts
from voicechart.web.ratelimit import SignInLimiter


@pytest.fixture
def client(clinic: Clinic) -> Iterator[TestClient]:
    yield from client_for(clinic)


def _audited(clinic: Clinic, action: str) -> list[tuple[str, str, str]]:
    return [
        (e.actor, e.object_type, e.object_id) for e in clinic.journal.audit_events() if e.action == action
    ]


def test_every_route_but_health_and_sign_in_needs_a_signed_in_user(
    client: TestClient, clinic: Clinic
) -> None:
    sid, uid = clinic.session_id, clinic.unclear_utterance
    pages = [
        "/",
        "/exams",
        f"/exams/{sid}",
        "/queue",
        "/search?q=x",
        "/dashboard",
        f"/utterances/{uid}",
        f"/exams/{sid}/export.csv",
        f"/exams/{sid}/export.pdf",
        f"/notes/{clinic.note_id}",
    ]
    for path in pages:
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path
    for path in [
        f"/utterances/{uid}/audio.wav",
        f"/api/exams/{sid}",
        "/api/queue",
        "/api/search",
        "/events",
        "/openapi.json",
    ]:
        assert client.get(path, follow_redirects=False).status_code in (303, 401), path
    for path in [
        f"/edits/{clinic.marked_edit}/confirm",
        f"/exams/{sid}/values",
        f"/utterances/{uid}/chart",
        f"/notes/{clinic.note_id}/correct",
        "/logout",
    ]:
        assert client.post(path, data={}, follow_redirects=False).status_code == 401, path
    assert client.get("/health").json() == {"status": "ok"}
    open_to_all = {"/health", "/login", "/static", "/favicon.ico"}  # the favicon is an empty 204
    for route in clinic.app.routes:  # every route the app has, the ones added after this test too
        path = re.sub(r"\{[^}]+\}", "1", getattr(route, "path", ""))
        if not path or path in open_to_all:
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            response = client.request(method, path, data={}, follow_redirects=False)
            assert response.status_code in (303, 401), (method, path, response.status_code)


def test_sign_in_sets_a_secure_expiring_cookie_and_is_audited(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead", "wrong password!") == 401
    assert sign_in(client, "nobody", "wrong password!") == 401
    page = client.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    response = client.post(
        "/login",
        data={"csrf": token, "name": "lead", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("vc_session="))
    assert {"HttpOnly", "Secure", "SameSite=strict"} <= {p.strip() for p in cookie.split(";")}
    assert "Max-Age=28800" in cookie
    assert client.get("/").status_code == 200
    assert ("lead", "user", "lead") in _audited(clinic, "sign_in")
    assert len(_audited(clinic, "sign_in_failed")) == 2
    # the password is stored as an Argon2id hash only
    with clinic.journal.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(sa.text("SELECT password_hash FROM app_user"))]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any("correct horse" in h for h in hashes)


def test_sign_in_without_the_form_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"name": "lead", "password": "correct horse battery"})
    assert response.status_code == 403


def test_repeated_failures_are_throttled_even_with_the_right_password(client: TestClient) -> None:
    for _ in range(5):
        assert sign_in(client, "lead", "guess guess guess") == 401
    assert sign_in(client, "lead") == 429


def test_limiter_window_slides() -> None:
    now = [0.0]
    limiter = SignInLimiter(max_failures=2, window_s=60, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after_s("a") == pytest.approx(60)
    now[0] = 61
    assert limiter.retry_after_s("a") == 0


def test_an_expired_or_signed_out_session_lets_nobody_in(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    with clinic.journal.engine.begin() as conn:
        conn.execute(
            update(WebSessionRow).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(client, "lead") == 303
    client.post("/logout", data={"csrf": csrf_of(client)})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_security_headers_on_every_answer(client: TestClient) -> None:
    for response in (client.get("/login"), client.get("/health"), client.get("/", follow_redirects=False)):
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["strict-transport-security"] == "max-age=31536000"  # served over HTTPS
    assert "strict-transport-security" not in client.get("http://testserver/health").headers  # only HTTPS


def test_a_post_without_the_csrf_token_changes_nothing(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    before = len(clinic.journal.pending_edits())
    response = client.post(
        f"/exams/{clinic.session_id}/values",
        data={"sequence_type": "Probing", "tooth": "3", "column": "DB", "value": "5"},
    )
    assert response.status_code == 403
    assert len(clinic.journal.pending_edits()) == before


def test_the_exam_page_shows_the_chart_marks_and_previous_exam_and_is_audited(
    client: TestClient, clinic: Clinic
) -> None:
    assert sign_in(client, "lead") == 303
    page = client.get(f"/exams/{clinic.session_id}")
    assert page.status_code == 200
    assert "James Carter" in page.text
    # tooth 4's 7 mm: deep, worse than the previous exam's 2 mm, and marked for review
    assert 'class="site deep worse marked" data-tooth="4" data-site="MB"' in page.text
    assert "Previous exam" in page.text
    assert ("lead", "exam_session", str(clinic.session_id)) in _audited(clinic, "view_transcript")
    data = client.get(f"/api/exams/{clinic.session_id}").json()
    assert [(m["IntTooth"], m["site"]) for m in data["marks"]] == [(4, "B"), (4, "DB"), (4, "MB")]


def test_a_correction_reaches_the_pms_through_the_outbox_and_is_audited(
    client: TestClient, clinic: Clinic
) -> None:
    assert sign_in(client, "lead") == 303
    response = client.post(
        f"/exams/{clinic.session_id}/values",
        data={
            "csrf": csrf_of(client),
            "sequence_type": "Probing",
            "tooth": "4",
            "column": "MB",
            "value": "4",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    clinic.outbox.drain()
    row = clinic.connector.read_chart(clinic.exam_num)[SequenceType.PROBING][4]
    assert row.sites[:3] == (4, 3, 3)
    assert not clinic.journal.pending_edits()
    assert ("lead", "periomeasure", f"exam {clinic.exam_num} Probing tooth 4") in _audited(
        clinic, "review_correct"
    )
    data = client.get(f"/api/exams/{clinic.session_id}").json()
    # the corrected site carries no mark; the two the reviewer did not touch still do
    assert [(m["IntTooth"], m["site"]) for m in data["marks"]] == [(4, "B"), (4, "DB")]
    # correcting again to the same value changes nothing, out of range is refused
    assert (
        client.post(
            f"/exams/{clinic.session_id}/values",
            data={
                "csrf": csrf_of(client),
                "sequence_type": "Probing",
                "tooth": "4",
                "column": "MB",
                "value": "4",
            },
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/exams/{clinic.session_id}/values",
            data={
                "csrf": csrf_of(client),
                "sequence_type": "Probing",
                "tooth": "4",
                "column": "MB",
                "value": "25",
            },
        ).status_code
        == 400
    )


def test_confirming_a_marked_value_clears_its_mark_without_a_pms_write(
    client: TestClient, clinic: Clinic
) -> None:
    assert sign_in(client, "lead") == 303
    before = len(_audited(clinic, "pms_write"))
    response = client.post(f"/edits/{clinic.marked_edit}/confirm", data={"csrf": csrf_of(client)})
    assert response.status_code == 200
    assert client.get(f"/api/exams/{clinic.session_id}").json()["marks"] == []
    assert [i["kind"] for i in client.get("/api/queue").json()["items"]] == ["not_charted"]
    assert len(_audited(clinic, "pms_write")) == before


def test_the_queue_corrects_each_mark_in_place_bleeding_suppuration_and_row_values(
    client: TestClient, clinic: Clinic
) -> None:
    """A marked bleeding/suppuration site is set or cleared and a marked mobility corrected from the queue
    itself; each queue row says what the mark is on and shows the value the chart holds now."""
    from sqlalchemy import select

    from voicechart.exam.edits import ChartEdit
    from voicechart.journal.tables import ReviewActionRow
    from voicechart.pms.records import BleedingFlags, MeasureRow

    blood, pus = int(BleedingFlags.BLOOD), int(BleedingFlags.SUPPURATION)
    flags = MeasureRow(SequenceType.BLEED_SUP_PLAQ_CALC, 4, sites=(blood | pus, -1, blood, -1, -1, -1))
    mobility = MeasureRow(SequenceType.MOBILITY, 4, tooth_value=2)
    _, (flags_edit, mobility_edit) = record(
        clinic.journal,
        clinic.settings.clips_dir,
        clinic.session_id,
        30,
        "bleeding mesial and distal mobility 2",
        exam_num=clinic.exam_num,
        edits=(
            ChartEdit(SequenceType.BLEED_SUP_PLAQ_CALC, 4, None, flags, flagged="the recognizer was unsure"),
            ChartEdit(SequenceType.MOBILITY, 4, None, mobility, flagged="the recognizer was unsure"),
        ),
    )
    clinic.outbox.drain()
    assert sign_in(client, "lead") == 303
    page = client.get("/queue").text
    row = {
        kind: _queue_row(page, edit) for kind, edit in (("flags", flags_edit), ("mobility", mobility_edit))
    }
    assert "tooth 4 · bleeding/suppuration" in row["flags"]
    assert '<li>MB <strong class="current">bleeding, suppuration</strong></li>' in row["flags"]
    assert '<li>DB <strong class="current">bleeding</strong></li>' in row["flags"]
    assert (
        f'action="/exams/{clinic.session_id}/bleeding" class="correct-flags" data-tooth="4" data-site="MB"'
        in (row["flags"])
    )
    assert "tooth 4 · mobility" in row["mobility"]
    assert '<strong class="current">2</strong>' in row["mobility"]
    assert 'class="correct-value" data-tooth="4" data-site="tooth" data-seq="0"' in row["mobility"]
    assert "tooth 4 · depth" in _queue_row(page, clinic.marked_edit)  # the fixture's marked depths

    csrf = csrf_of(client)
    cleared = client.post(  # MB: bleeding cleared, suppuration kept (its box ticked)
        f"/exams/{clinic.session_id}/bleeding",
        data={"csrf": csrf, "tooth": "4", "column": "MB", "suppuration": "on", "back": "/queue"},
        follow_redirects=False,
    )
    assert (cleared.status_code, cleared.headers["location"]) == (303, "/queue")
    corrected = client.post(
        f"/exams/{clinic.session_id}/values",
        data={
            "csrf": csrf,
            "sequence_type": "0",
            "tooth": "4",
            "column": "tooth",
            "value": "1",
            "back": "/queue",
        },
        follow_redirects=False,
    )
    assert corrected.status_code == 303
    clinic.outbox.drain()
    chart = clinic.connector.read_chart(clinic.exam_num)
    assert chart[SequenceType.BLEED_SUP_PLAQ_CALC][4].sites[:3] == (pus, 0, blood)
    assert chart[SequenceType.MOBILITY][4].tooth_value == 1
    assert not clinic.journal.pending_edits()
    corrections = _audited(clinic, "review_correct")
    assert ("lead", "periomeasure", f"exam {clinic.exam_num} BleedSupPlaqCalc tooth 4") in corrections
    assert ("lead", "periomeasure", f"exam {clinic.exam_num} Mobility tooth 4") in corrections
    with clinic.journal.engine.connect() as conn:
        journaled = [
            (r.user_name, r.action, {k: v for k, v in r.detail.items() if k != "audit_event"})
            for r in conn.execute(select(ReviewActionRow).order_by(ReviewActionRow.id))
        ]
    assert journaled == [
        ("lead", "correct", {"sequence_type": "BleedSupPlaqCalc", "tooth": 4, "values": {"MB": pus}}),
        ("lead", "correct", {"sequence_type": "Mobility", "tooth": 4, "values": {"tooth": 1}}),
    ]
    marks = {
        (m["SequenceType"], m["site"]) for m in client.get(f"/api/exams/{clinic.session_id}").json()["marks"]
    }
    assert ("BleedSupPlaqCalc", "MB") not in marks and ("Mobility", "tooth") not in marks
    assert ("BleedSupPlaqCalc", "DB") in marks  # not decided yet: still in the queue
    again = client.get("/queue").text
    assert '<li>DB <strong class="current">bleeding</strong></li>' in _queue_row(again, flags_edit)
    assert f'data-edit="{mobility_edit}"' not in again

    # the exam page's panel: a clicked depth offers its site's bleeding and suppuration as they are now
    depth_source = next(
        i["utterance"] for i in client.get("/api/queue").json()["items"] if i["edit"] == clinic.marked_edit
    )
    query = {"fragment": "1", "tooth": "4", "site": "MB", "seq": "4"}
    panel = client.get(f"/utterances/{depth_source}", params=query).text
    assert 'name="bleeding">' in panel and 'name="suppuration" checked>' in panel


def _queue_row(page: str, edit_id: int) -> str:
    start = page.index(f'data-edit="{edit_id}"')
    return page[start : page.index("</tr>", start)]


def test_a_decision_is_never_journaled_without_its_audit_event(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit event comes first and the review action names it; when the audit log cannot be written,
    nothing is journaled (nor sent to the PMS); a decision refused after its event is noted as not made."""
    from sqlalchemy import select

    from voicechart import audit
    from voicechart.journal.tables import ReviewActionRow
    from voicechart.web.review import Reviewer, ReviewRefused

    def actions() -> list[ReviewActionRow]:
        with clinic.journal.engine.connect() as conn:
            return list(conn.execute(select(ReviewActionRow).order_by(ReviewActionRow.id)))

    lead = Accounts(clinic.journal).authenticate("lead", "correct horse battery")
    assert lead is not None
    reviewer = Reviewer(clinic.journal)
    append = audit.append

    def audit_log_down(*args: object, **kwargs: object) -> int:
        raise sa.exc.OperationalError("INSERT INTO audit_event", {}, Exception("disk full"))

    monkeypatch.setattr(audit, "append", audit_log_down)
    with pytest.raises(sa.exc.OperationalError):
        reviewer.set_values(clinic.session_id, SequenceType.PROBING, 4, {"MB": 5}, lead)
    with pytest.raises(sa.exc.OperationalError):
        reviewer.confirm(clinic.marked_edit, lead)
    assert actions() == [] and not clinic.journal.pending_edits()
    monkeypatch.setattr(audit, "append", append)

    reviewer.set_values(clinic.session_id, SequenceType.PROBING, 4, {"MB": 5}, lead)
    reviewer.dismiss(clinic.unclear_utterance, lead)
    with pytest.raises(ReviewRefused):  # refused inside the decision's transaction, after its audit event
        reviewer.set_values(clinic.session_id, SequenceType.PROBING, 4, {"MB": 5}, lead)
    events = {e.id: e for e in clinic.journal.audit_events()}
    made = actions()
    assert [(a.action, events[a.detail["audit_event"]].action) for a in made] == [
        ("correct", "review_correct"),
        ("dismiss", "review_dismiss"),
    ]
    named = {a.detail["audit_event"] for a in made}
    (unmade,) = [e for e in events.values() if e.action.startswith("review_") and e.id not in named][:1]
    (note,) = [e for e in events.values() if e.action == "review_not_made"]
    assert (unmade.action, note.object_id, note.detail) == (
        "review_correct",
        str(unmade.id),
        "the chart already holds those values",
    )
    assert audit.verify(clinic.journal.engine).intact


def test_a_values_source_reads_as_sites_and_counts_read_as_words(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    source = next(
        i["utterance"] for i in client.get("/api/queue").json()["items"] if i["edit"] == clinic.marked_edit
    )
    panel = client.get(f"/utterances/{source}").text
    assert "tooth 4 depth: MB 7 · B 3 · DB 3" in panel
    assert "[7, 3, 3" not in panel
    assert 'class="correct-value"' not in panel  # no value was clicked: nothing to correct yet
    client.post(f"/edits/{clinic.marked_edit}/confirm", data={"csrf": csrf_of(client)})
    exam = client.get(f"/exams/{clinic.session_id}").text
    assert "1 item in this exam's queue · 0 edits not yet in the PMS" in exam
    assert "1 item waiting for review" in client.get("/").text


def test_charting_what_an_unclear_utterance_said(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    response = client.post(
        f"/utterances/{clinic.unclear_utterance}/chart",
        data={"csrf": csrf_of(client), "tooth": "5", "side": "facial", "d0": "3", "d1": "3", "d2": "4"},
    )
    assert response.status_code == 200
    clinic.outbox.drain()
    row = clinic.connector.read_chart(clinic.exam_num)[SequenceType.PROBING][5]
    assert row.sites[:3] == (4, 3, 3)  # spoken distal, mid, mesial on the upper right: MB=4, B=3, DB=3
    assert "not_charted" not in [i["kind"] for i in client.get("/api/queue").json()["items"]]


def test_a_hygienist_corrects_her_own_exams_only(
    client: TestClient, clinic: Clinic, settings: Settings
) -> None:
    data = {"sequence_type": "Probing", "tooth": "3", "column": "DB", "value": "4"}
    assert sign_in(client, "other") == 303
    assert (
        client.post(f"/exams/{clinic.session_id}/values", data={**data, "csrf": csrf_of(client)}).status_code
        == 403
    )
    client.post("/logout", data={"csrf": csrf_of(client)})
    assert sign_in(client, "hanna") == 303
    assert (
        client.post(f"/exams/{clinic.session_id}/values", data={**data, "csrf": csrf_of(client)}).status_code
        == 200
    )


def test_a_corrected_note_is_a_new_procnote_and_the_original_stays(
    client: TestClient, clinic: Clinic
) -> None:
    assert sign_in(client, "lead") == 303
    page = client.get(f"/notes/{clinic.note_id}")
    assert "What the lexicon changed" in page.text
    assert f"/utterances/{clinic.note_passage}/audio.wav" in page.text  # the passage it was dictated in
    corrected = "Patient reports no pain. Plan: recall in four months."
    response = client.post(
        f"/notes/{clinic.note_id}/correct", data={"csrf": csrf_of(client), "text": corrected}
    )
    assert response.status_code == 200
    clinic.outbox.drain()
    original = clinic.journal.note(clinic.note_id)
    with clinic.engine.connect() as conn:
        notes = [
            r.Note
            for r in conn.execute(
                sa.select(procnote)
                .where(procnote.c.ProcNum == original.pms_ref)
                .order_by(procnote.c.ProcNoteNum)
            )
        ]
    assert notes == [original.text, corrected]
    assert ("lead", "clinical_note", f"note {clinic.note_id}") in _audited(clinic, "review_correct_note")


def test_audio_is_served_only_from_the_clips_and_every_listen_is_audited(
    client: TestClient, clinic: Clinic, tmp_path: Path
) -> None:
    assert sign_in(client, "lead") == 303
    audio = client.get(f"/utterances/{clinic.unclear_utterance}/audio.wav")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert ("lead", "utterance", str(clinic.unclear_utterance)) in _audited(clinic, "listen_audio")
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF not a clip")
    with clinic.journal.engine.begin() as conn:
        conn.execute(
            update(UtteranceRow)
            .where(UtteranceRow.id == clinic.unclear_utterance)
            .values(clip_path=str(clinic.settings.clips_dir / ".." / ".." / secret.name))
        )
    assert client.get(f"/utterances/{clinic.unclear_utterance}/audio.wav").status_code == 404
    assert client.get("/utterances/..%2F..%2Fetc%2Fpasswd/audio.wav").status_code in (400, 404)


def test_search_finds_words_by_patient_and_operatory(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    assert "three tree for" in client.get("/search", params={"q": "tree"}).text
    assert "recall in three months" in client.get("/search", params={"q": "recall", "patient": "carter"}).text
    assert "Nothing found" in client.get("/search", params={"q": "tree", "operatory": "7"}).text
    assert client.get("/search", params={"q": "x", "date": "yesterday"}).status_code == 400
    assert ("lead", "search", "results") in _audited(clinic, "view_transcript")
    assert client.get("/api/search", params={"q": "%"}).json() == []  # wildcards are words, not patterns


def test_exports_csv_and_pdf(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    lines = client.get(f"/exams/{clinic.session_id}/export.csv").text.splitlines()
    assert lines[0].startswith("tooth,site,depth") and len(lines) == 1 + 32 * 6
    assert "4,MB,7,,,,,,,,," in lines
    pdf = client.get(f"/exams/{clinic.session_id}/export.pdf")
    assert pdf.content[:5] == b"%PDF-" and pdf.headers["content-type"] == "application/pdf"
    assert b"(Mobility F)" not in _pdf_text(pdf.content)  # no mobility charted: no mobility row
    mobility = {"sequence_type": "0", "tooth": "4", "column": "tooth", "value": "2"}
    assert client.post(
        f"/exams/{clinic.session_id}/values", data={**mobility, "csrf": csrf_of(client)}
    ).is_success
    text = _pdf_text(client.get(f"/exams/{clinic.session_id}/export.pdf").content)
    assert b"(Mobility F)" in text and b"(2)" in text


def _pdf_text(pdf: bytes) -> bytes:
    """The PDF's page content, its compressed streams inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S)
    out = []
    for stream in streams:
        try:
            out.append(zlib.decompress(stream))
        except zlib.error:
            out.append(stream)
    return b"\n".join(out)


def test_dashboard_and_today_show_the_figures(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    today = client.get("/")
    assert "Operatory 1" in today.text and "James Carter" in today.text
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200 and dashboard.text.count("<svg") == 8
    assert "25 %" in dashboard.text  # one of four utterances was not charted
    assert ">25 %</text>" in dashboard.text  # and its plot's axis says so in per cent, not 0.25


def test_openapi_describes_the_json_endpoints_and_they_answer_as_described(
    client: TestClient, clinic: Clinic
) -> None:
    assert sign_in(client, "lead") == 303
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/health", "/api/exams/{session_id}", "/api/queue", "/api/search"}
    assert client.get(f"/api/exams/{clinic.session_id}").status_code == 200
    assert client.get("/api/exams/999999").status_code == 404
    assert client.get("/api/exams/99999999999999999999").status_code == 400


def test_users_need_a_real_password_and_a_known_role(clinic: Clinic) -> None:
    from voicechart.errors import VoicechartError

    accounts = Accounts(clinic.journal)
    with pytest.raises(VoicechartError, match="10 characters"):
        accounts.add("x", "admin", "short")
    with pytest.raises(VoicechartError, match="unknown role"):
        accounts.add("x", "boss", "long enough password")
    with pytest.raises(VoicechartError, match="already"):
        accounts.add("lead", "admin", "long enough password")
    accounts.set_disabled("hanna", True)
    assert accounts.authenticate("hanna", "correct horse battery") is None


def test_new_utterances_reach_an_open_live_stream(clinic: Clinic, settings: Settings) -> None:
    import asyncio

    from voicechart.web.live import LiveHub
    from voicechart.web.readmodel import ReadModel

    async def scenario() -> str:
        hub = LiveHub(ReadModel(clinic.journal), poll_s=0.02)
        await hub.start()
        stream = hub.events(clinic.session_id)
        assert (await anext(stream)).startswith("retry:")
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)
        await asyncio.to_thread(
            record,
            clinic.journal,
            settings.clips_dir,
            clinic.session_id,
            9,
            "next tooth",
            exam_num=clinic.exam_num,
        )
        event = await asyncio.wait_for(waiting, timeout=5)
        await hub.stop()
        return event

    event = asyncio.run(scenario())
    assert event.startswith("event: change") and str(clinic.session_id) in event


def test_an_open_exam_hears_when_a_pms_write_is_delivered(clinic: Clinic, settings: Settings) -> None:
    """A write's status changing (pending → delivered) adds no journal row, yet the open exam page must show
    it: the live stream says the exam changed."""
    import asyncio

    from voicechart.exam.edits import ChartEdit
    from voicechart.pms.records import MeasureRow
    from voicechart.web.live import LiveHub
    from voicechart.web.readmodel import ReadModel

    row = MeasureRow(SequenceType.PROBING, 6, sites=(3, 2, 3, -1, -1, -1))
    record(
        clinic.journal,
        settings.clips_dir,
        clinic.session_id,
        9,
        "3 2 3",
        exam_num=clinic.exam_num,
        edits=(ChartEdit(SequenceType.PROBING, 6, None, row),),
    )
    assert clinic.journal.pending_edits()

    async def scenario() -> str:
        hub = LiveHub(ReadModel(clinic.journal), poll_s=0.02)
        await hub.start()
        stream = hub.events(clinic.session_id)
        assert (await anext(stream)).startswith("retry:")
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)  # the hub has its baseline: the edit is pending
        await asyncio.to_thread(clinic.outbox.drain)
        try:
            return await asyncio.wait_for(waiting, timeout=5)
        finally:
            await hub.stop()

    event = asyncio.run(scenario())
    assert not clinic.journal.pending_edits()
    assert event.startswith("event: change") and str(clinic.session_id) in event


def test_a_station_serves_the_review_app_once_users_exist_with_the_configured_tls(
    settings: Settings, tmp_path: Path
) -> None:
    import ssl

    import httpx

    from voicechart.web.cli import start_web_in_background

    port = free_port()
    assert not start_web_in_background(settings, port=port)  # nobody could sign in: not started
    clinic = open_clinic(settings)
    certificate, key = self_signed_certificate(tmp_path)
    settings.web.tls_certfile, settings.web.tls_keyfile = str(certificate), str(key)
    trust = ssl.create_default_context(cafile=str(certificate))
    try:
        assert start_web_in_background(settings, port=port)
        for _ in range(100):
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/health", timeout=1, verify=trust)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        queue = httpx.get(f"https://127.0.0.1:{port}/queue", follow_redirects=False, verify=trust)
        assert queue.status_code == 303
        with pytest.raises(httpx.TransportError):  # no plain HTTP beside it
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        clinic.close()


def test_review_marks_follow_each_site(clinic: Clinic) -> None:
    """Confirming one flagged edit of a row leaves the marks another flagged edit put on the same row; an
    unflagged dictated edit of the row clears them all."""
    from voicechart.exam.edits import ChartEdit
    from voicechart.pms.records import MeasureRow
    from voicechart.web.accounts import Accounts
    from voicechart.web.readmodel import ReadModel
    from voicechart.web.review import Reviewer

    sid, exam, clips = clinic.session_id, clinic.exam_num, clinic.settings.clips_dir
    facial = MeasureRow(SequenceType.PROBING, 12, sites=(3, 3, 3, -1, -1, -1))
    both = MeasureRow(SequenceType.PROBING, 12, sites=(3, 3, 3, 4, 4, 4))
    _, (first,) = record(
        clinic.journal,
        clips,
        sid,
        20,
        "3 3 3",
        exam_num=exam,
        edits=(ChartEdit(SequenceType.PROBING, 12, None, facial, flagged="unsure"),),
    )
    _, (second,) = record(
        clinic.journal,
        clips,
        sid,
        21,
        "4 4 4",
        exam_num=exam,
        edits=(ChartEdit(SequenceType.PROBING, 12, facial, both, flagged="unsure"),),
    )

    def marked() -> set[str]:
        view = ReadModel(clinic.journal).exam(sid)
        assert view is not None
        return {k[2] for k in view.marks if k[1] == 12}

    assert marked() == {"MB", "B", "DB", "ML", "L", "DL"}
    lead = Accounts(clinic.journal).authenticate("lead", "correct horse battery")
    assert lead is not None
    Reviewer(clinic.journal).confirm(second, lead)
    assert marked() == {"MB", "B", "DB"}
    again = MeasureRow(SequenceType.PROBING, 12, sites=(3, 2, 3, 4, 4, 4))
    record(
        clinic.journal,
        clips,
        sid,
        22,
        "tooth 12 buccal 3 2 3",
        exam_num=exam,
        edits=(ChartEdit(SequenceType.PROBING, 12, both, again),),
    )
    assert marked() == set()
    assert first < second


def test_a_marked_flags_row_marks_only_the_sites_with_flags(clinic: Clinic) -> None:
    """The session writes a whole bleeding row (0 where no flag): the sites it only made "none" from blank
    carry no review mark, so the queue does not ask about them."""
    from voicechart.exam.edits import ChartEdit
    from voicechart.pms.records import BleedingFlags, MeasureRow
    from voicechart.web.readmodel import ReadModel

    blood = int(BleedingFlags.BLOOD)
    row = MeasureRow(SequenceType.BLEED_SUP_PLAQ_CALC, 8, sites=(0, 0, blood, 0, 0, 0))
    record(
        clinic.journal,
        clinic.settings.clips_dir,
        clinic.session_id,
        40,
        "bleeding distal",
        exam_num=clinic.exam_num,
        edits=(ChartEdit(SequenceType.BLEED_SUP_PLAQ_CALC, 8, None, row, flagged="unsure"),),
    )
    queue = ReadModel(clinic.journal).queue(clinic.session_id)
    (item,) = [i for i in queue.items if i.sites and i.sites[0][1] == 8]
    assert (item.sites, item.values) == (((int(SequenceType.BLEED_SUP_PLAQ_CALC), 8, "DB"),), (blood,))


def test_no_phi_or_secret_in_logs_or_the_audit_log(
    client: TestClient, clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    assert sign_in(client, "lead", "wrong password!") == 401
    assert sign_in(client, "lead") == 303
    token = client.cookies.get("vc_session") or ""
    csrf = csrf_of(client)
    client.get(f"/exams/{clinic.session_id}")
    client.get("/search", params={"q": "tree", "patient": "Carter"})
    client.get(f"/notes/{clinic.note_id}")
    client.post(f"/notes/{clinic.note_id}/correct", data={"csrf": csrf, "text": "Recall in six weeks."})
    client.post(
        f"/exams/{clinic.session_id}/values",
        data={"csrf": csrf, "sequence_type": "Probing", "tooth": "4", "column": "MB", "value": "4"},
    )
    clinic.outbox.drain()
    audit = " ".join(
        f"{e.actor} {e.action} {e.object_type} {e.object_id} {e.detail}"
        for e in clinic.journal.audit_events()
    )
    # the server's logs (the test client's own httpx log of the URLs it asked for is not the server's)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert logged, "nothing was logged at all: the check would prove nothing"
    for secret in (
        "James",
        "Carter",
        "tree",
        "recall",
        "Recall",
        "six weeks",
        "correct horse",
        "wrong password",
        token,
        csrf,
    ):
        assert secret not in logged, secret
        assert secret not in audit, secret


def test_huge_or_unsized_bodies_are_refused_before_they_are_read(client: TestClient, clinic: Clinic) -> None:
    assert sign_in(client, "lead") == 303
    huge = client.post(
        f"/notes/{clinic.note_id}/correct", data={"csrf": csrf_of(client), "text": "x" * 400_000}
    )
    assert huge.status_code == 413
    unsized = client.post("/logout", content=iter([b"csrf=x"]))  # chunked: no Content-Length
    assert unsized.status_code == 411
    assert len(clinic.journal.notes()) == 1  # nothing was written


def test_a_second_exam_in_open_dental_waits_in_the_queue_until_the_clinic_lead_sorts_it_out(
    client: TestClient, clinic: Clinic
) -> None:
    with clinic.journal.engine.connect() as conn:
        pms_url = conn.execute(
            select(ExamSessionRow.pms_url).where(ExamSessionRow.id == clinic.session_id)
        ).scalar_one()
    clinic.journal.add_alert(
        pms_url=pms_url, kind="duplicate_exam", exam_num=clinic.exam_num, other_num=clinic.exam_num + 100,
        detail=DUPLICATE_EXAM,
    )  # fmt: skip
    (alert,) = clinic.journal.alerts()
    assert sign_in(client, "hanna") == 303  # a hygienist sees it, and may not close it
    page = client.get("/queue").text
    assert f"Exam {clinic.exam_num} and exam {clinic.exam_num + 100}" in page and "Sorted out" not in page
    assert f'href="/exams/{clinic.session_id}"' in page
    refused = client.post(f"/alerts/{alert.id}/resolve", data={"csrf": csrf_of(client)})
    assert refused.status_code == 403 and clinic.journal.alerts() != []
    client.post("/logout", data={"csrf": csrf_of(client)})
    assert sign_in(client, "lead") == 303
    assert f"/alerts/{alert.id}/resolve" in client.get("/queue").text
    done = client.post(f"/alerts/{alert.id}/resolve", data={"csrf": csrf_of(client)})
    assert done.status_code == 200 and clinic.journal.alerts() == []
    assert ("lead", "pms_alert", str(alert.id)) in _audited(clinic, "review_resolve_alert")
    assert f"Exam {clinic.exam_num} and exam" not in client.get("/queue").text


def test_who_dictated_is_named_from_the_pms_when_no_account_matches(
    client: TestClient, clinic: Clinic
) -> None:
    with clinic.journal.engine.begin() as conn:  # a dentist with no account in the review app dictated it
        conn.execute(update(ExamSessionRow).where(ExamSessionRow.id == clinic.session_id).values(prov_num=1))
    assert sign_in(client, "lead") == 303
    page = client.get(f"/exams/{clinic.session_id}").text
    assert "by Dana Reyes" in page and "by provider 1" not in page
