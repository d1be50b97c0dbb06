"""Generate the spoken clinical notes in samples/notes/: SOAP dictation audio and its manifest.json.

Same pipeline as scripts/make_samples.py (which this imports): every utterance rendered on its own by an
offline TTS voice, resampled to 16 kHz mono, trimmed, placed with seeded gaps, FLAC. The manifest holds the
spoken utterances with their times and the note the PMS should end up with, written by hand below (never
computed by voicechart).

    uv run --group samples python scripts/make_note_samples.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_samples as ms

OUT = ms.REPO_DIR / "samples" / "notes"

NOTE_1 = ms.Script(
    title="SOAP note, sensitivity and gingivitis",
    missing_teeth=(),
    utterances=(
        "start note",
        "subjective, patient reports sensitivity on the lower left molars for two weeks",
        "no swelling and no fever",
        "objective, generalized gingivitis with bleeding on probing",
        "calculus on the lingual of the lower anteriors",
        "two millimeters of recession on the buccal of tooth three",
        "assessment, localized moderate periodontitis",
        "plan, scaling and root planing in four quadrants",
        "chlorhexidine rinse twice daily, re-evaluate in six weeks",
        "end note",
    ),
    expected_chart={},
)
NOTE_1_TEXT = (
    "Subjective: Patient reports sensitivity on the lower left molars for two weeks. "
    "No swelling and no fever.\n\n"
    "Objective: Generalized gingivitis with bleeding on probing. "
    "Calculus on the lingual of the lower anteriors. "
    "Two millimeters of recession on the buccal of tooth three.\n\n"
    "Assessment: Localized moderate periodontitis.\n\n"
    "Plan: Scaling and root planing in four quadrants. "
    "Chlorhexidine rinse twice daily, re-evaluate in six weeks."
)
NOTE_2 = ms.Script(
    title="SOAP note, bleeding when brushing",
    missing_teeth=(),
    utterances=(
        "clinical note",
        "subjective, the patient denies pain but reports bleeding when brushing",
        "objective, probing depths of five millimeters on the upper right molars",
        "furcation involvement on tooth fourteen, no mobility",
        "assessment, generalized mild periodontitis",
        "plan, prophylaxis today, fluoride varnish, recall in three months",
        "end note",
    ),
    expected_chart={},
)
NOTE_2_TEXT = (
    "Subjective: The patient denies pain but reports bleeding when brushing.\n\n"
    "Objective: Probing depths of five millimeters on the upper right molars. Furcation involvement on tooth "
    "fourteen, no mobility.\n\n"
    "Assessment: Generalized mild periodontitis.\n\n"
    "Plan: Prophylaxis today, fluoride varnish, recall in three months."
)
NOTES = (
    (ms.Sample("note1-piper-joe", NOTE_1, "piper", "en_US-joe-medium", length_scale=1.0), NOTE_1_TEXT),
    (ms.Sample("note1-flite-slt", NOTE_1, "flite", "slt"), NOTE_1_TEXT),
    (ms.Sample("note2-piper-joe", NOTE_2, "piper", "en_US-joe-medium", length_scale=1.0), NOTE_2_TEXT),
    (ms.Sample("note2-espeak-us", NOTE_2, "espeak-ng", "en-us", wpm=150), NOTE_2_TEXT),
)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    ms.check_tools([s for s, _ in NOTES])
    entries = []
    for sample, text in NOTES:
        entry = ms.build_sample(sample, OUT)
        for unused in ("patient", "expected_chart"):
            entry.pop(unused, None)
        entry["expected_note"] = text
        entries.append(entry)
        print(f"{sample.id}: {entry['duration_s']} s")
    (OUT / "manifest.json").write_text(json.dumps({"samples": entries}, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
