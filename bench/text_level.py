"""Text-level accuracy of the dictation language: random exams → dictation text → (corrupted) → chart.

Random exams (realistic depth distributions by severity, missing teeth, bleeding/suppuration/plaque/calculus,
furcation, mobility, recession) are rendered into dictation in random styles (words, digits, commas, run
together; one or several tooth sides per breath; teeth named or not; split triplets; fillers; both path
orders; Universal and FDI numbering), then:

- clean: parsed and applied as said;
- heard: corrupted with the confusions tiny.en made on the samples (bench/results/confusions.json, written
  by `bench recognizer`), at the measured rate and at twice that rate. When the system flags an utterance,
  the simulated hygienist repeats it with the teeth named (up to twice), as the readback asks.

Reported: chart-cell accuracy (values in the chart equal to the exam), values flagged for review, and wrong
values that were NOT flagged (the number that must be zero).

    scripts/dev bench text      (or: .venv/bin/python -m bench text)
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from voicechart.simulate.corrupt import Confusions, corrupt
from voicechart.simulate.dictate import Dictation, dictate
from voicechart.simulate.exams import random_exam
from voicechart.simulate.speech import random_style, render_exam

RESULTS = Path(__file__).parent / "results"
EXAMS = 200
SEED = 20261124


def run_condition(name: str, confusions: Confusions | None) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    wrong_examples: list[str] = []
    for i in range(EXAMS):
        rng = random.Random(SEED + i)
        exam = random_exam(rng)
        style = random_style(rng)
        order = rng.choice(("maxillary_first", "facials_first"))
        numbering = rng.choice(("universal", "fdi"))
        spoken = render_exam(exam, style, rng, order=order, numbering=numbering)
        ear = random.Random(SEED * 7 + i)

        def hear(text: str, ear: random.Random = ear) -> str:
            return corrupt(text, confusions, ear) if confusions is not None else text

        result: Dictation = dictate(exam, spoken, hear=hear, order=order, numbering=numbering)
        totals["cells"] += result.score.total
        totals["correct"] += result.score.correct
        totals["correct_unflagged"] += result.score.correct - result.correct_flagged
        totals["wrong_flagged"] += len(result.wrong_flagged)
        totals["wrong_unflagged"] += len(result.wrong_unflagged)
        totals["missing"] += result.score.missing
        totals["flagged_cells"] += result.flagged_cells
        totals["utterances"] += result.utterances
        totals["utterances_flagged"] += result.flagged
        if result.wrong_unflagged and len(wrong_examples) < 5:
            wrong_examples.append(f"exam {i}: {', '.join(result.wrong_unflagged[:4])}")
    cells = totals["cells"]
    return {
        "condition": name,
        "exams": EXAMS,
        **totals,
        "accuracy": totals["correct"] / cells,
        "accuracy_unflagged": totals["correct_unflagged"] / cells,
        "wrong_unflagged_examples": wrong_examples,
    }


def main() -> None:
    table_path = RESULTS / "confusions.json"
    table = json.loads(table_path.read_text())
    rows = [
        run_condition("clean text", None),
        run_condition("heard (tiny.en confusions ×1)", Confusions.from_json(table, rate=1.0)),
        run_condition("heard (tiny.en confusions ×2)", Confusions.from_json(table, rate=2.0)),
    ]
    lines = [
        "| condition | cells | correct | correct, not flagged | values flagged | wrong, flagged "
        "| wrong, NOT flagged | missing | utterances repeated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['cells']} | {r['accuracy']:.2%} | {r['accuracy_unflagged']:.2%} "
            f"| {r['flagged_cells']} | {r['wrong_flagged']} | {r['wrong_unflagged']} | {r['missing']} "
            f"| {r['utterances_flagged']}/{r['utterances']} |"
        )
    per_exam = statistics.mean(r["cells"] for r in rows) / EXAMS
    lines.append("")
    lines.append(f"{EXAMS} random exams per condition, {per_exam:.0f} chart cells per exam on average.")
    for r in rows:
        for example in r["wrong_unflagged_examples"]:
            lines.append(f"- {r['condition']}: unflagged wrong, {example}")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text_level.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "text_level.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
