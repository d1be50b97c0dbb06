"""The OpenAPI description of the review app's JSON endpoints (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_SIGNED_IN: list[dict[str, list[str]]] = [{"session": []}]


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": _SIGNED_IN,
            "parameters": params or [],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                "400": {
                    "description": "A malformed parameter",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "401": {"description": "Not signed in", "content": {"application/json": {"schema": _ERROR}}},
                "404": {"description": "Not found", "content": {"application/json": {"schema": _ERROR}}},
            },
        }
    }


_SESSION_PARAM = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_QUERY = [
    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
    for n in ("q", "patient", "date", "operatory", "person")
]

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "voicechart review app",
        "version": "1",
        "description": "Read-only JSON views of the journal for a signed-in user (session cookie). Decisions "
        "are made through the app's forms, which carry a CSRF token.",
    },
    "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "vc_session"}}},
    "paths": {
        "/health": {
            "get": {
                "summary": "Is the app up (no sign-in needed)",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/exams/{session_id}": _get(
            "An exam's chart as voicechart holds it, with its review marks",
            {
                "type": "object",
                "properties": {
                    "session": {"type": "integer"},
                    "exam_num": {"type": "integer", "nullable": True},
                    "pat_num": {"type": "integer"},
                    "operatory": {"type": "integer", "nullable": True},
                    "rows": {"type": "array", "items": {"type": "object"}},
                    "marks": {"type": "array", "items": {"type": "object"}},
                    "utterances": {"type": "integer"},
                    "pending": {"type": "integer"},
                    "refused": {"type": "integer"},
                },
            },
            [_SESSION_PARAM],
        ),
        "/api/queue": _get(
            "The review queue: utterances not charted, marked values, writes the PMS refused",
            {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"type": "object"}},
                    "pending_edits": {"type": "integer"},
                    "pending_notes": {"type": "integer"},
                },
            },
        ),
        "/api/search": _get(
            "Utterances and notes by words, patient, date (YYYY-MM-DD), operatory and person",
            {"type": "array", "items": {"type": "object"}},
            _QUERY,
        ),
    },
}
