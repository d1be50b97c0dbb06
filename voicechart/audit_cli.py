"""`voicechart audit …`: the audit log's hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

audit_app = typer.Typer(no_args_is_help=True, help="The audit log: who did what, as a hash chain.")


@audit_app.command("verify")
def verify(
    journal: Annotated[
        str | None,
        typer.Option("--journal", help="Journal database URL (default: the journal in the data directory)."),
    ] = None,
) -> None:
    """Check every audit event against its hash and its link to the one before. Exits 1 at the first
    event that was edited, removed or moved, naming it; 2 when there is no journal there, or one this
    voicechart has not upgraded yet. It only reads: the journal checked is never changed."""
    from pathlib import Path

    from sqlalchemy import create_engine, make_url

    from voicechart.audit import verify as verify_chain
    from voicechart.journal.store import redact_url, schema_is_current
    from voicechart.settings import load_settings

    url = journal or load_settings().journal_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        typer.echo(f"No journal at {redact_url(url)}.", err=True)
        raise typer.Exit(2)
    engine = create_engine(url)
    try:
        if not schema_is_current(engine):
            typer.echo(
                f"The journal at {redact_url(url)} is older than this voicechart: run any voicechart command "
                "on it once (for example `voicechart outbox`) to upgrade it, then verify.",
                err=True,
            )
            raise typer.Exit(2)
        verdict = verify_chain(engine)
    finally:
        engine.dispose()
    extra = f" ({verdict.unchained} older unchained events before it)" if verdict.unchained else ""
    if verdict.intact:
        typer.echo(f"{verdict.events} events, chain intact{extra}; head {verdict.head or '-'}")
        return
    typer.echo(
        f"audit chain BROKEN at event {verdict.broken_at}: {verdict.reason}; "
        f"{verdict.events} events before it are intact{extra}",
        err=True,
    )
    raise typer.Exit(1)
