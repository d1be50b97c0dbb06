"""Notes never gain words: the SOAP notes of samples/notes/ spoken by the corpus's test voices, clean and in
noise, through the real pipeline in note mode into a sandbox; the note that lands against the note dictated.

Counted per run: WER; words the note gained that nobody said, by class (drug and material names, numbers,
teeth, anything from the note prompt); negations changed; and whether "end note" ended the note (a note saved
as unfinished says so in its text).

    scripts/dev bench notes-corpus       (piper voices need the samples group: uv run --group samples …)
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from bench.voices import VOICES, Voice, synthesize
from voicechart.audio.noise import make_noise, mix_at_snr
from voicechart.audio.sources import array_chunks
from voicechart.journal.store import Journal
from voicechart.notes.lexicon import NOTE_PROMPT
from voicechart.notes.wer import edit_distance, words
from voicechart.pms.sandbox import SandboxConnector, add_patient, create_sandbox
from voicechart.pms.sandbox.schema import procnote
from voicechart.runner import build_pipeline, load_note_transcriber, load_transcriber
from voicechart.settings import SAMPLES_DIR, load_settings

RESULTS = Path(__file__).parent / "results"
NOTES = json.loads((SAMPLES_DIR / "notes" / "manifest.json").read_text())["samples"]
_DRUGS = """lidocaine epinephrine articaine septocaine mepivacaine prilocaine bupivacaine chlorhexidine
fluoride varnish amoxicillin clindamycin ibuprofen acetaminophen penicillin doxycycline arestin minocycline
peridex amalgam composite glass ionomer sealant topical benzocaine nitrous"""
DRUGS_AND_MATERIALS = frozenset(_DRUGS.split())
NEGATIONS = frozenset({"no", "not", "none", "never", "denies", "without", "negative", "absent"})
TOOTH_WORDS = frozenset({"tooth", "teeth", "molar", "molars", "premolar", "premolars", "incisor", "canine"})
PROMPT_WORDS = frozenset(words(NOTE_PROMPT))
CONDITIONS: list[tuple[str, str | None, float]] = [("clean", None, 0.0), ("scaler10", "scaler", 10.0)]
GAP_S = 1.0


def note_voices() -> list[Voice]:
    """One test voice per engine: voices nothing was tuned on."""
    seen: set[str] = set()
    out = []
    for voice in VOICES:
        if voice.split == "test" and voice.engine not in seen:
            seen.add(voice.engine)
            out.append(voice)
    return out


def speak_note(entry: dict[str, Any], voice: Voice) -> np.ndarray:
    gap = np.zeros(int(GAP_S * 16000), dtype=np.int16)
    parts = [gap]
    for utterance in entry["utterances"]:
        parts += [synthesize(voice, utterance["text"], 1.0), gap]
    return np.concatenate(parts)


def gained(truth: str, landed: str) -> Counter[str]:
    """Words the landed note has more often than the dictated one, by class."""
    extra = Counter(words(landed)) - Counter(words(truth))
    out: Counter[str] = Counter()
    for word, n in extra.items():
        if word in DRUGS_AND_MATERIALS:
            out["drug or material"] += n
        if word.isdigit():
            out["number"] += n
        if word in TOOTH_WORDS:
            out["tooth"] += n
        if word in PROMPT_WORDS:
            out["from the prompt"] += n
        out["any"] += n
    return out


def run(
    entry: dict[str, Any], voice: Voice, condition: tuple[str, str | None, float], asr: Any
) -> dict[str, Any]:
    name, kind, snr = condition
    pcm = speak_note(entry, voice)
    if kind is not None:
        pcm = mix_at_snr(pcm, make_noise(kind, len(pcm), seed=11), snr)
    settings = load_settings()
    transcriber, notes = asr
    with tempfile.TemporaryDirectory() as tmp:
        run_settings = settings.model_copy(update={"data_dir": tmp})
        engine = sa.create_engine(f"sqlite:///{tmp}/pms.sqlite3")
        create_sandbox(engine)
        pat_num = add_patient(engine, first_name="Note", last_name=entry["id"])
        journal = Journal(run_settings.journal_url)
        connector = SandboxConnector(engine)
        try:
            pipeline = build_pipeline(
                run_settings, transcriber=transcriber, note_transcriber=notes, connector=connector,
                journal=journal, pat_num=pat_num, pms_url="sandbox", realtime=False, mode="note",
            )  # fmt: skip
            list(pipeline.run(array_chunks(pcm)))
            with engine.connect() as conn:
                landed = "\n".join(r[0] for r in conn.execute(sa.select(procnote.c.Note)))
        finally:
            connector.close()
            journal.close()
            engine.dispose()
    truth = entry["expected_note"]
    reference = words(truth)
    negations_truth = [w for w in reference if w in NEGATIONS]
    negations_landed = [w for w in words(landed) if w in NEGATIONS]
    return {
        "note": entry["id"].split("-")[0],
        "voice": voice.id,
        "condition": name,
        "wer": edit_distance(reference, words(landed)) / len(reference),
        "gained": dict(gained(truth, landed)),
        "negations_changed": negations_truth != negations_landed,
        "ended": "[dictation ended before 'end note']" not in landed and bool(landed),
        "landed": landed,
    }


def main() -> None:
    settings = load_settings()
    transcriber = load_transcriber(settings)
    asr = (transcriber, load_note_transcriber(settings, fallback=transcriber))
    notes = {e["id"].split("-")[0]: e for e in NOTES}  # one recording per script is enough: the text
    rows = []
    for entry in notes.values():
        for voice in note_voices():
            for condition in CONDITIONS:
                row = run(entry, voice, condition, asr)
                rows.append(row)
                print(f"{row['note']} {row['voice']} {row['condition']}: WER {row['wer']:.1%} "
                      f"gained {row['gained']} negations changed {row['negations_changed']} "
                      f"ended {row['ended']}", flush=True)  # fmt: skip
    lines = [
        "| condition | notes | mean WER | words gained | drugs/materials gained | numbers gained | "
        "teeth gained | from the prompt | negations changed | 'end note' heard |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _, _ in CONDITIONS:
        mine = [r for r in rows if r["condition"] == name]
        total: Counter[str] = Counter()
        for r in mine:
            total.update(r["gained"])
        lines.append(
            f"| {name} | {len(mine)} | {statistics.mean(r['wer'] for r in mine):.1%} | {total['any']} | "
            f"{total['drug or material']} | {total['number']} | {total['tooth']} | "
            f"{total['from the prompt']} | "
            f"{sum(r['negations_changed'] for r in mine)} | {sum(r['ended'] for r in mine)}/{len(mine)} |"
        )
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notes_corpus.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "notes_corpus.md").write_text(text + "\n")
