"""The review app's OpenAPI description, and schemathesis against it: generated requests to every JSON
operation, signed in, never get a server error or an undocumented status; signed out, every one is 401."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.web_fixtures import Clinic, open_clinic, sign_in
from voicechart.settings import load_settings


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    data: Path = tmp_path_factory.mktemp("web-openapi")
    settings = load_settings(data_dir=str(data), pms_url="")
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    c = open_clinic(settings)
    yield c
    c.close()


def _session_cookie(clinic: Clinic) -> str:
    with TestClient(clinic.app, base_url="https://testserver") as client:  # type: ignore[arg-type]
        assert sign_in(client, "lead") == 303
        token = client.cookies.get("vc_session")
    assert token
    return token


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(clinic: Clinic) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import status_code_conformance

    cookie = _session_cookie(clinic)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", clinic.app, headers={"Cookie": f"vc_session={cookie}"}
    )
    failures: list[str] = []
    statuses: list[int] = []
    signed_out: list[int] = []

    def exercise(op: Any) -> None:
        name = f"{op.method.upper()} {op.path}"

        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            try:
                response = case.call_and_validate(
                    headers={"Cookie": f"vc_session={cookie}"},
                    checks=[not_a_server_error, status_code_conformance],
                )
            except Exception as exc:  # recorded, not raised: every operation gets its turn
                failures.append(f"{name}: {str(exc)[:300]}")
            else:
                statuses.append(response.status_code)
            if op.path != "/health":
                signed_out.append(case.call(headers={"Cookie": "vc_session=forged"}).status_code)

        check()

    for operation in schema.get_all_operations():
        exercise(operation.ok())
    assert failures == []
    assert {200, 400, 404} <= set(statuses)
    assert signed_out and set(signed_out) == {401}
    assert not re.search(r"Carter|James", " ".join(e.detail for e in clinic.journal.audit_events()))
