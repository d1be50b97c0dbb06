"""What the recognizer really hears: every true utterance of the samples, clean and under operatory noise.

Each true utterance (the manifest's own start/end, padded, so segmentation does not enter) is transcribed by
the default model, clean and mixed with scaler, suction and babble noise. For each we keep the text, the
recognizer's confidence, and whether the interpreter turns the heard text into exactly the commands of the
script. From that:

- `results/recognizer_outputs.json`: every (truth, heard, confidence, outcome) row — the data;
- `results/confusions.json`: word confusions (truth → heard, with counts), used by the text-level benchmark
  to corrupt dictation the way the recognizer does, and to grow the interpreter's list of mis-hearings;
- `results/calibration.json|md`: the confidence threshold below which an utterance is flagged instead of
  charted, chosen on these data (see `choose_threshold`).

    scripts/dev bench recognizer      (or: .venv/bin/python -m bench recognizer)
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from voicechart.accuracy import score_chart
from voicechart.asr.transcriber import Transcript
from voicechart.audio.noise import make_noise, mix_at_snr
from voicechart.audio.sources import decode_file, pcm16_to_float
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.tokens import tokenize
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.guards import judge
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.runner import load_transcriber
from voicechart.samples import load_manifest
from voicechart.settings import SAMPLES_DIR, load_settings
from voicechart.simulate.dictate import chart_of, flagged_cell_keys

RESULTS = Path(__file__).parent / "results"
RATE = 16000
PAD_S = 0.3
CONDITIONS: list[tuple[str, str | None, float]] = [
    ("clean", None, 0.0),
    ("scaler15", "scaler", 15.0),
    ("suction15", "suction", 15.0),
    ("babble15", "babble", 15.0),
]
CONFUSION_CONDITIONS = ("clean", "scaler15", "suction15")
WRONG_COST = 20
"""How many correct chart cells one wrong, unflagged cell costs when choosing the threshold."""


def collect() -> list[dict[str, Any]]:
    settings = load_settings()
    transcriber = load_transcriber(settings)
    manifest = load_manifest()
    audio = {sid: decode_file(SAMPLES_DIR / e["audio"]) for sid, e in manifest.items()}
    rows: list[dict[str, Any]] = []
    for condition, kind, snr in CONDITIONS:
        for sid, entry in manifest.items():
            pcm = audio[sid]
            if kind is not None:
                others = [a for other, a in audio.items() if other != sid] if kind == "babble" else None
                noise = make_noise(kind, len(pcm), seed=7, babble_sources=others)
                pcm = mix_at_snr(pcm, noise, snr)
            for utt in entry["utterances"]:
                start = max(0, int((utt["start_s"] - PAD_S) * RATE))
                end = min(len(pcm), int((utt["end_s"] + PAD_S) * RATE))
                heard = transcriber.transcribe(pcm16_to_float(pcm[start:end]))
                truth_cmds = interpret(utt["text"]).commands
                parsed = interpret(heard.text)
                rows.append(
                    {
                        "condition": condition,
                        "sample": sid,
                        "truth": utt["text"],
                        "heard": heard.text,
                        "avg_logprob": round(heard.avg_logprob, 4),
                        "no_speech_prob": round(heard.no_speech_prob, 4),
                        "accepted": parsed.accepted,
                        "correct": parsed.accepted and parsed.commands == truth_cmds,
                    }
                )
        print(f"{condition}: {sum(r['correct'] for r in rows if r['condition'] == condition)} correct")
    return rows


def confusions(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Aligned word confusions after the tokenizer's normalization: said phrase → how often it was said
    ("seen") and what it was heard as, with counts ("-" for a dropped or an inserted word)."""
    table: dict[str, Counter[str]] = {}
    seen: Counter[str] = Counter()
    for row in rows:
        truth = [t.text for t in tokenize(row["truth"])[1]]
        heard = [t.text for t in tokenize(row["heard"])[1]]
        seen["-"] += 1
        for n in (1, 2, 3):
            seen.update(" ".join(truth[i : i + n]) for i in range(len(truth) - n + 1))
        matcher = difflib.SequenceMatcher(a=truth, b=heard, autojunk=False)
        for op, a0, a1, b0, b1 in matcher.get_opcodes():
            if op == "equal":
                continue
            said = " ".join(truth[a0:a1]) or "-"
            got = " ".join(heard[b0:b1]) or "-"
            table.setdefault(said, Counter())[got] += 1
    return {
        k: {"seen": max(seen[k], sum(v.values())), "heard": dict(v.most_common())}
        for k, v in sorted(table.items())
    }


def replay_texts(
    rows: list[dict[str, Any]], missing: list[int], thresholds: tuple[float, float], max_no_speech_prob: float
) -> ExamSession:
    """One sample's heard utterances, in order, through the guards and the session, as the pipeline does.
    `thresholds` = (min_avg_logprob with numbers, min_avg_logprob for word-only commands)."""
    session = ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in missing])
    for row in rows:
        interpretation = interpret(row["heard"])
        transcript = Transcript(row["heard"], row["avg_logprob"], row["no_speech_prob"])
        threshold = thresholds[0] if interpretation.has_numbers else thresholds[1]
        verdict = judge(transcript, min_avg_logprob=threshold, max_no_speech_prob=max_no_speech_prob)
        if verdict.status == "noise":
            continue
        low = verdict.reason if verdict.status == "low_confidence" else ""
        decide(session, interpretation, low_confidence=low)
    return session


def score_threshold(rows: list[dict[str, Any]], thresholds: tuple[float, float]) -> dict[str, Any]:
    """Chart cells over every (condition, sample) replay: correct, wrong (flagged or not), missing."""
    manifest = load_manifest()
    max_no_speech = load_settings().asr.max_no_speech_prob
    totals = Counter[str]()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["condition"], row["sample"]), []).append(row)
    for (_, sample), group in groups.items():
        entry = manifest[sample]
        session = replay_texts(group, entry["patient"]["missing_teeth"], thresholds, max_no_speech)
        score = score_chart(entry["expected_chart"], chart_of(session))
        flagged = flagged_cell_keys(session)
        totals["cells"] += score.total
        totals["correct"] += score.correct
        totals["wrong_unflagged"] += len(set(score.wrong_cells) - flagged)
        totals["wrong_flagged"] += len(set(score.wrong_cells) & flagged)
        totals["missing"] += score.missing
    return {
        "threshold": thresholds[0],
        "threshold_commands": thresholds[1],
        **totals,
        "utility": totals["correct"] - WRONG_COST * totals["wrong_unflagged"],
    }


def choose_threshold(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay every sample's heard text under each candidate min_avg_logprob and keep the one that charts
    the most correct cells, counting each wrong cell that is not flagged as WRONG_COST correct ones lost."""
    grid = [round(-1.5 + 0.05 * i, 2) for i in range(31)]  # -1.5 … 0.0
    scored = [score_threshold(rows, (t, c)) for t in grid for c in grid]
    best = max(scored, key=lambda r: (r["utility"], -r["threshold"], -r["threshold_commands"]))
    # the table: each numbers-threshold with the commands-threshold chosen
    table = [r for r in scored if r["threshold_commands"] == best["threshold_commands"]]
    return {"chosen": best, "wrong_cost": WRONG_COST, "candidates": table}


def main() -> None:
    rows = collect()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recognizer_outputs.json").write_text(json.dumps(rows, indent=0) + "\n")
    write_confusions(rows)
    report(rows)


def write_confusions(rows: list[dict[str, Any]]) -> None:
    """Recognizer confusions under operatory noise. Babble is left out: there the "confusions" are other
    people's words (cross-talk), a different failure, measured by the babble rows of the table above."""
    own = [r for r in rows if r["condition"] in CONFUSION_CONDITIONS]
    (RESULTS / "confusions.json").write_text(json.dumps(confusions(own), indent=1) + "\n")


def report(rows: list[dict[str, Any]]) -> None:
    calibration = choose_threshold(rows)
    (RESULTS / "calibration.json").write_text(json.dumps(calibration, indent=1) + "\n")
    lines = ["| condition | utterances | parsed as the script | accepted but wrong |", "|---|---|---|---|"]
    for condition, _, _ in CONDITIONS:
        mine = [r for r in rows if r["condition"] == condition]
        correct = sum(r["correct"] for r in mine)
        wrong = sum(r["accepted"] and not r["correct"] for r in mine)
        lines.append(f"| {condition} | {len(mine)} | {correct} ({correct / len(mine):.1%}) | {wrong} |")
    lines += [
        "",
        "| min_avg_logprob (numbers) | chart cells correct | wrong, flagged | wrong, not flagged | missing |",
        "|---|---|---|---|---|",
    ]
    for c in calibration["candidates"]:
        if c["threshold"] * 100 % 10 == 0 or c is calibration["chosen"]:
            lines.append(
                f"| {c['threshold']} | {c['correct']}/{c['cells']} | {c['wrong_flagged']} "
                f"| {c['wrong_unflagged']} | {c['missing']} |"
            )
    chosen = calibration["chosen"]
    lines += [
        "",
        f"Chosen min_avg_logprob = {chosen['threshold']} for utterances with numbers and "
        f"min_avg_logprob_commands = {chosen['threshold_commands']} for word-only commands (one unflagged "
        f"wrong cell counted as {WRONG_COST} "
        f"correct ones): {chosen['correct']}/{chosen['cells']} cells correct, "
        f"{chosen['wrong_unflagged']} wrong and not flagged.",
    ]
    text = "\n".join(lines)
    print(text)
    (RESULTS / "calibration.md").write_text(text + "\n")


def recalibrate() -> None:
    """Confusions and thresholds again from the stored outputs (after the interpreter or session changed)."""
    rows = json.loads((RESULTS / "recognizer_outputs.json").read_text())
    for row in rows:  # the interpreter's verdicts may have changed since the recognizer ran
        truth_cmds = interpret(row["truth"]).commands
        parsed = interpret(row["heard"])
        row["accepted"] = parsed.accepted
        row["correct"] = parsed.accepted and parsed.commands == truth_cmds
    write_confusions(rows)
    report(rows)


if __name__ == "__main__":
    main()
