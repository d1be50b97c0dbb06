"""The second ear where Whisper is unsure: the product without and with it, on the same audio.

An utterance whose Whisper reading writes values and was refused as unsure, or charted with words heard
unsure, is also read by the second ear (voicechart.asr.second_ear: PocketSphinx with a language model of
the dictation language; the grammar and the chart choose among its 5 readings, as for Whisper). Two
recognizers built apart make fewer of the same mistakes: where they read the same values, the reading is
more likely right (voicechart.dictation.opinion). Each way of using it is held against the cheaper baseline
it must beat (Whisper alone with a lower word-probability floor for the review marks):

    accepts    a reading refused as unsure that the second ear reads alike (every command) is charted
    unmarks    values it reads alike lose the marks of words Whisper heard unsure
    both       what the product does (asr.second_ear)

    python -m bench second-opinion prepare exams=0,3,… shard=0/2   # recognize what the replays need (one per
                                                                   #   core, VOICECHART_ASR__CPU_THREADS=1)
    python -m bench second-opinion report exams=0,3,…              # -> results/second_opinion.md and .json

`report` scores only the exams whose recognitions are all cached (`prepare` writes a marker per exam).
Whisper base as the second opinion (round seven, README) was measured by this module at 3490ca9.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

from bench.corpus import CorpusExam, corpus_dir
from bench.corpus_eval import (
    DEV_SPEAKERS,
    HEADER,
    RESULTS,
    RETRIES,
    Lever,
    Recognitions,
    SecondEarReadings,
    breakdown,
    load_gates,
    replay,
    row_md,
    selected,
    totals,
)

WORD_FLOORS = (0.2, 0.1, 0.05)


def levers() -> list[tuple[Lever, bool]]:
    """(lever, whether it asks the second ear)."""
    product = Lever("Whisper alone", gates=load_gates(), echo=True)
    out = [(product, False)]
    for floor in WORD_FLOORS:  # the baseline the second opinion must beat: fewer words marked, no opinion
        lower = replace(product.gates, unsure_word=floor)
        out.append((replace(product, name=f"Whisper alone, words below {floor} marked", gates=lower), False))
    unmarks = replace(
        product, name="+ second ear reading it alike: words heard unsure not marked", opinion_unmarks=True
    )
    accepts = replace(
        product, name="+ second ear reading it alike: an unsure reading charted", opinion_accepts=True
    )
    both = replace(accepts, name="+ second ear reading it alike: both (the product)", opinion_unmarks=True)
    answers = replace(
        both,
        name="+ an unsure answer to “which tooth?” read alike charted (measured, off)",
        opinion_answers=True,
    )
    return [*out, (unmarks, True), (accepts, True), (both, True), (answers, True)]


def _marker(exam: CorpusExam) -> Any:
    return corpus_dir() / "recognized" / "second_ear_opinion" / f"{exam.id}.done"


def prepare() -> None:
    """Replay every variant on the selected exams of this shard, recognizing (and caching) the repeats Whisper
    needs and every second-ear reading asked for."""
    shard = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("shard=")), "0/1")
    index, count = (int(x) for x in shard.split("/"))
    tiny = Recognitions(shard=f"so{index}of{count}", configs=("digit",))
    ear = SecondEarReadings(shard=f"so{index}of{count}")
    exams = [e for split in ("dev", "test") for e in selected(split, 0)]
    for n, exam in enumerate(exams):
        if n % count != index or _marker(exam).exists():
            continue
        for lever, asks in levers():
            replay(exam, lever, tiny.get, ear.get if asks else None, retries=RETRIES)
        _marker(exam).parent.mkdir(parents=True, exist_ok=True)
        _marker(exam).write_text("")
        print(f"{exam.id} done", flush=True)


def report() -> None:
    tiny = Recognitions(configs=("digit",))
    ear = SecondEarReadings()
    lines = [HEADER.format("variant, split")]
    data: dict[str, Any] = {}
    by_level: dict[str, list[str]] = {}
    for lever, asks in levers():
        for split in ("dev", "test"):
            exams = [e for e in selected(split, 0) if _marker(e).exists()]
            if not exams:
                continue
            results = [replay(e, lever, tiny.get, ear.get if asks else None, retries=RETRIES) for e in exams]
            t = totals(results)
            data.setdefault(lever.name, {})[split] = t
            lines.append(row_md(f"{lever.name}, {split}", t))
            print(lines[-1], flush=True)
            unseen = [r for r in results if r.exam.voice.speaker not in DEV_SPEAKERS]
            if split == "test" and unseen:
                data[lever.name]["test_speakers_not_in_dev"] = totals(unseen)
            by_level[f"{lever.name}, {split}"] = breakdown(results, lambda r: r.exam.level, "level")[1:]
    sections = [
        "# The second ear where Whisper is unsure (`bench second-opinion report`)",
        "",
        *lines,
        "",
        "## By noise level",
        "",
    ]
    for name, rows in by_level.items():
        sections += [f"### {name}", "", HEADER.format("level"), *rows, ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "second_opinion.md").write_text("\n".join(sections))
    (RESULTS / "second_opinion.json").write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    command = sys.argv[2] if len(sys.argv) > 2 else "report"
    {"prepare": prepare, "report": report}[command]()
