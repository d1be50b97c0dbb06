"""The sandbox PMS: Open Dental's tables and encodings in a database voicechart owns (SQLite or MariaDB).

Never point it at a real Open Dental database: Open Dental must be written through its REST API.
"""

from __future__ import annotations

from voicechart.pms.sandbox.connector import SandboxConnector, validate_measure
from voicechart.pms.sandbox.schema import PMS_SCHEMA_VERSION, create_sandbox, is_sandbox, metadata
from voicechart.pms.sandbox.seed import DemoSummary, add_patient, seed_demo

__all__ = [
    "PMS_SCHEMA_VERSION",
    "DemoSummary",
    "SandboxConnector",
    "add_patient",
    "create_sandbox",
    "is_sandbox",
    "metadata",
    "seed_demo",
    "validate_measure",
]
