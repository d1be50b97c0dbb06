"""`voicechart web` (the review app) and `voicechart users …` (who may sign in to it)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from voicechart.errors import VoicechartError
from voicechart.settings import Settings

if TYPE_CHECKING:
    import uvicorn

PASSWORD_ENV = "VOICECHART_NEW_PASSWORD"


def _journal(settings: Settings) -> Any:
    from voicechart.journal.store import Journal

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    return Journal(settings.journal_url)


def _password(confirm: bool = True) -> str:
    """From VOICECHART_NEW_PASSWORD (scripts), a pipe (one line), or asked twice at the terminal."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return password


def users_add(settings: Settings, name: str, role: str, prov_num: int) -> None:
    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        user = Accounts(journal).add(name, role, _password(), prov_num=prov_num)
        journal.audit(actor="cli", action="user_added", object_type="user", object_id=user.name, detail=role)
    finally:
        journal.close()
    typer.echo(f"Added {user.name} ({user.role}).")


def users_list(settings: Settings) -> None:
    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        for user, disabled in Accounts(journal).all():
            prov = f", provider {user.prov_num}" if user.prov_num else ""
            typer.echo(f"{user.name}: {user.role}{prov}{' (disabled)' if disabled else ''}")
    finally:
        journal.close()


def users_password(settings: Settings, name: str) -> None:
    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        Accounts(journal).set_password(name, _password())
        journal.audit(actor="cli", action="password_set", object_type="user", object_id=name)
    finally:
        journal.close()
    typer.echo(f"New password set for {name}; their open sign-ins are closed.")


def users_disable(settings: Settings, name: str, disabled: bool) -> None:
    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        Accounts(journal).set_disabled(name, disabled)
        journal.audit(
            actor="cli",
            action="user_disabled" if disabled else "user_enabled",
            object_type="user",
            object_id=name,
        )
    finally:
        journal.close()
    typer.echo(f"{name} {'disabled' if disabled else 'enabled'}.")


def build_web_app(settings: Settings, *, with_outbox: bool = True) -> Any:
    """The review app on the settings' journal, with its own outbox to the settings' PMS."""
    from voicechart.clips import key_from_env
    from voicechart.journal.store import Journal
    from voicechart.pms.outbox import Outbox
    from voicechart.runner import open_connector
    from voicechart.web.app import create_app

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_pms_url
    journal = Journal(settings.journal_url)
    outbox = Outbox(journal, open_connector(url, settings), pms_url=url) if with_outbox else None
    return create_app(
        settings,
        journal=journal,
        connect=lambda: open_connector(url, settings),
        outbox=outbox,
        clip_key=key_from_env(),
    )


def start_web_in_background(settings: Settings, *, port: int | None = None) -> bool:
    """The review app on a daemon thread beside a station (`voicechart serve`); only once users exist."""
    import threading

    import uvicorn

    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        has_users = bool(Accounts(journal).all())
    finally:
        journal.close()
    if not has_users:
        typer.echo(
            "Review app not started: add a user with `voicechart users add NAME --role admin`.", err=True
        )
        return False
    server = uvicorn.Server(server_config(settings, host=None, port=port))
    threading.Thread(target=server.run, name="voicechart-web", daemon=True).start()
    typer.echo(f"Review app on {web_address(settings, host=None, port=port)}", err=True)
    return True


def uses_tls(settings: Settings) -> bool:
    """HTTPS directly: a certificate chain (its key beside it in tls_keyfile, or in the same PEM)."""
    return bool(settings.web.tls_certfile)


def web_address(settings: Settings, *, host: str | None, port: int | None) -> str:
    scheme = "https" if uses_tls(settings) else "http"
    return f"{scheme}://{host or settings.web.host}:{port or settings.web.port}/"


def server_config(settings: Settings, *, host: str | None, port: int | None) -> uvicorn.Config:
    """The uvicorn configuration of the review app, the same for `voicechart web` and `voicechart serve`:
    the address, TLS when [web] tls_certfile and tls_keyfile are set, and no access log (the URLs of
    searches carry words and names)."""
    import uvicorn

    host = host or settings.web.host
    if host not in ("127.0.0.1", "localhost", "::1") and not uses_tls(settings):
        typer.echo(
            f"Serving on {host} without TLS: set [web] tls_certfile/tls_keyfile or put a TLS proxy in front "
            "(docs/review-app.md).",
            err=True,
        )
    return uvicorn.Config(
        build_web_app(settings),
        host=host,
        port=port or settings.web.port,
        log_level="warning",
        access_log=False,
        ssl_certfile=settings.web.tls_certfile or None,
        ssl_keyfile=settings.web.tls_keyfile or None,
    )


def run_web(settings: Settings, *, host: str | None, port: int | None) -> None:
    import uvicorn

    from voicechart.web.accounts import Accounts

    journal = _journal(settings)
    try:
        if not Accounts(journal).all():
            raise VoicechartError("no users yet: add the first with `voicechart users add NAME --role admin`")
    finally:
        journal.close()
    config = server_config(settings, host=host, port=port)
    typer.echo(f"Review app on {web_address(settings, host=host, port=port)} (Ctrl-C stops it)", err=True)
    uvicorn.Server(config).run()
