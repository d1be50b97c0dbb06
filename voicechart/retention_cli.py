"""`voicechart retention …`: delete what is no longer needed (voicechart.retention)."""

from __future__ import annotations

from typing import Annotated

import typer

retention_app = typer.Typer(no_args_is_help=True, help="Retention: how long utterance audio is kept.")


@retention_app.command("apply")
def apply(
    clip_days: Annotated[
        int | None,
        typer.Option(
            "--clip-days",
            min=0,
            help="Keep a session's audio this many days after it ended (setting retention.audio_days).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete the audio clips of sessions that ended more than --clip-days ago (a session that never ended:
    since its last utterance) and have nothing waiting for the PMS or for a person. Transcripts and edits
    stay in the journal. Each deletion is audited."""
    from voicechart.journal.store import Journal
    from voicechart.retention import apply_retention
    from voicechart.settings import load_settings

    settings = load_settings()
    if clip_days is None:
        if settings.retention.audio_days == 0:
            typer.echo("[retention] audio_days is 0: audio is kept forever; nothing to do.")
            return
        clip_days = settings.retention.audio_days
    journal = Journal(settings.journal_url)
    try:
        result = apply_retention(journal, settings.clips_dir, clip_days=clip_days, dry_run=dry_run)
    finally:
        journal.close()
    verb = "Would delete" if dry_run else "Deleted"
    typer.echo(
        f"{verb} {result.files} clips of {len(result.sessions)} sessions ended over {clip_days} days ago."
    )
    if result.kept_open:
        typer.echo(
            f"Kept {len(result.kept_open)} sessions: edits or notes still wait for the PMS or a person."
        )
