"""Clinical notes: word error rate of the note that lands in the PMS, over voices, noise and models.

Each spoken SOAP note of samples/notes/ goes through the real pipeline in note mode (VAD, Whisper with the
note prompt, the note composer, the dental lexicon) into a fresh sandbox; the procnote Open Dental would show
is compared with the note written in the manifest. WER is over words after lower-casing, dropping punctuation
and writing number words as digits. "Protected" counts numbers, negations and laterality words that differ
from the script (any cause), and how many of those the lexicon's correction step changed (must be zero).

    scripts/dev bench notes      (or: .venv/bin/python -m bench notes)
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voicechart.audio.noise import make_noise, mix_at_snr
from voicechart.audio.sources import array_chunks, decode_file
from voicechart.journal.store import Journal
from voicechart.notes.wer import edit_distance, protected_words, words
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.schema import procnote
from voicechart.runner import build_pipeline, load_transcriber
from voicechart.settings import SAMPLES_DIR, load_settings

RESULTS = Path(__file__).parent / "results"
NOTES_DIR = SAMPLES_DIR / "notes"
CONDITIONS: list[tuple[str, str | None, float]] = [
    ("clean", None, 0.0),
    ("scaler15", "scaler", 15.0),
    ("suction15", "suction", 15.0),
]
MODELS = ("tiny.en", "base")


def run_note(
    entry: dict[str, Any], model: str, kind: str | None, snr: float, transcriber: Any
) -> dict[str, Any]:
    settings = load_settings()
    pcm = decode_file(NOTES_DIR / entry["audio"])
    if kind is not None:
        pcm = mix_at_snr(pcm, make_noise(kind, len(pcm), seed=3), snr)
    with tempfile.TemporaryDirectory() as tmp:
        run_settings = settings.model_copy(update={"data_dir": tmp})
        url = f"sqlite:///{tmp}/pms.sqlite3"
        engine = sa.create_engine(url)
        create_sandbox(engine)
        pat_num = add_patient(engine, first_name="Note", last_name=entry["id"])
        journal = Journal(run_settings.journal_url)
        connector = SandboxConnector(engine)
        try:
            pipeline = build_pipeline(
                run_settings,
                transcriber=transcriber,
                note_transcriber=transcriber,  # the model under test takes the notes
                connector=connector,
                journal=journal,
                pat_num=pat_num,
                pms_url=url,
                realtime=False,
                mode="note",
            )
            results = list(pipeline.run(array_chunks(pcm)))
            with engine.connect() as conn:
                landed = conn.execute(sa.select(procnote.c.Note)).scalar() or ""
            (note,) = journal.notes() or [None]
        finally:
            connector.close()
            journal.close()
            engine.dispose()
    truth = words(entry["expected_note"])
    got = words(landed)
    by_lexicon = 0
    if note is not None:  # each correction the lexicon made, checked on its own
        by_lexicon = sum(
            protected_words(before) != protected_words(after) for before, after in note.corrections
        )
    return {
        "sample": entry["id"],
        "model": model,
        "condition": "clean" if kind is None else f"{kind}{int(snr)}",
        "wer": round(edit_distance(truth, got) / len(truth), 4),
        "protected_changed": edit_distance(protected_words(entry["expected_note"]), protected_words(landed)),
        "protected_changed_by_lexicon": by_lexicon,
        "corrections": len(note.corrections) if note is not None else 0,
        "utterances": len(results),
        "asr_ms_median": round(statistics.median(r.latency_ms["asr"] for r in results), 1)
        if results
        else 0.0,
        "note": landed,
    }


def main() -> None:
    manifest = json.loads((NOTES_DIR / "manifest.json").read_text())["samples"]
    base_settings = load_settings()
    rows = []
    for model in MODELS:
        settings = base_settings.model_copy(
            update={"asr": base_settings.asr.model_copy(update={"model": model})}
        )
        transcriber = load_transcriber(settings)
        for _, kind, snr in CONDITIONS:
            for entry in manifest:
                rows.append(run_note(entry, model, kind, snr, transcriber))
    lines = [
        "| model | sample | condition | WER | protected words changed (by the lexicon) | corrections "
        "| ASR ms p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['sample']} | {r['condition']} | {r['wer']:.1%} | {r['protected_changed']} "
            f"({r['protected_changed_by_lexicon']}) | {r['corrections']} | {r['asr_ms_median']:.0f} |"
        )
    lines.append("")
    for model in MODELS:
        for condition, _, _ in CONDITIONS:
            mine = [r for r in rows if r["model"] == model and r["condition"] == condition]
            lines.append(
                f"{model}, {condition}: mean WER {statistics.mean(r['wer'] for r in mine):.1%}, "
                f"protected words changed {sum(r['protected_changed'] for r in mine)} "
                f"(by the lexicon: {sum(r['protected_changed_by_lexicon'] for r in mine)})"
            )
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notes_wer.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "notes_wer.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
