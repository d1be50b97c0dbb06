"""The sandbox API's OpenAPI description (/openapi.json), and schemathesis against it: generated requests
of every operation, valid and invalid, never get a server error and never an undocumented status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from voicechart.pms.sandbox import create_sandbox, seed_demo
from voicechart.pms.sandbox.api import SandboxApi
from voicechart.pms.sandbox.openapi import PATHS

AUTH = {"Authorization": "ODFHIR dev/cust"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxApi]:
    path: Path = tmp_path_factory.mktemp("openapi") / "pms.db"
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    create_sandbox(engine)
    seed_demo(engine, dt.date.today())
    yield SandboxApi(engine, developer_key="dev", customer_key="cust")
    engine.dispose()


def test_the_description_is_served_without_keys_and_names_every_route(api: SandboxApi) -> None:
    import schemathesis

    with TestClient(api.app()) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = [op.ok() for op in schemathesis.openapi.from_dict(document).get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in PATHS.values())
    served = {r.path.removeprefix("/api/v1") for r in api.app().routes} - {"/openapi.json"}
    assert set(document["paths"]) == served == set(PATHS)


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(api: SandboxApi) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import status_code_conformance

    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app())
    failures: list[str] = []
    statuses: list[int] = []

    def exercise(op: Any) -> None:
        name = f"{op.method.upper()} {op.path}"

        @given(case=op.as_strategy())
        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            try:
                response = case.call_and_validate(
                    headers=AUTH, checks=[not_a_server_error, status_code_conformance]
                )
            except Exception as exc:  # recorded, not raised: no shrinking, every operation gets its turn
                failures.append(f"{name}: {str(exc)[:300]}")
            else:
                statuses.append(response.status_code)

        check()

    for operation in schema.get_all_operations():
        exercise(operation.ok())
    assert failures == []
    assert len(statuses) > 10 * len(PATHS) and {200, 201, 400, 404} <= set(statuses)
