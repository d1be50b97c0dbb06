"""Secrets (the Open Dental API keys): read only from the environment, or from a file outside the
repository that only its owner can read (VOICECHART_OD_DEVELOPER_KEY_FILE, …); never from a settings file.

Outside development (settings `environment`, VOICECHART_ENVIRONMENT), an empty, default or placeholder key
("dev", "changeme", anything shorter than 8 characters) is refused, for a PMS on this machine (Open Dental's
Local API) as for any other, and for a sandbox API this machine serves: those are the keys an intruder tries
first. A development machine (VOICECHART_ENVIRONMENT=development) may use short test keys; an empty key is
refused there too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from voicechart.errors import ConfigError
from voicechart.settings import PROJECT_DIR

MIN_LENGTH = 8
PLACEHOLDERS = frozenset(
    {
        "dev", "developer", "cust", "customer", "test", "testing", "demo", "bench", "example", "sample",
        "changeme", "change-me", "change_me", "secret", "password", "passw0rd", "key", "apikey", "api-key",
        "default", "placeholder", "your-key", "yourkey", "xxx", "xxxxxxxx", "todo", "none", "null",
        "12345678", "123456789", "abcdefgh", "opendental",
    }
)  # fmt: skip
KEY_NAMES = ("VOICECHART_OD_DEVELOPER_KEY", "VOICECHART_OD_CUSTOMER_KEY")


def read_secret(name: str) -> str:
    """NAME from the environment, else the contents of the file NAME_FILE names ("" if neither is set).
    The file must be outside the repository and not readable by others."""
    value = os.environ.get(name, "")
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE", "")
    if not file_name:
        return ""
    path = Path(file_name).expanduser().resolve()
    if path.is_relative_to(PROJECT_DIR.resolve()):
        raise ConfigError(f"{name}_FILE is inside the repository ({path}): keep secrets outside it")
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigError(f"{name}_FILE ({path}) is readable by other users: chmod 600 it")
    return text


def is_placeholder(value: str) -> bool:
    return len(value) < MIN_LENGTH or value.lower() in PLACEHOLDERS


def check_key(name: str, value: str, *, development: bool) -> None:
    """Refuse an empty key, and (outside development) a default or placeholder one."""
    if not value:
        raise ConfigError(f"{name} is not set (the environment, or {name}_FILE)")
    if not development and is_placeholder(value):
        raise ConfigError(
            f"{name} is a default or placeholder value (or shorter than {MIN_LENGTH} characters): refused "
            "outside development. Use the office's real key (or set VOICECHART_ENVIRONMENT=development on a "
            "development machine)."
        )


def api_keys(*, development: bool) -> tuple[str, str]:
    """The Open Dental developer and customer keys, checked (see the module's docstring)."""
    keys = tuple(read_secret(name) for name in KEY_NAMES)
    for name, value in zip(KEY_NAMES, keys, strict=True):
        check_key(name, value, development=development)
    return keys[0], keys[1]
