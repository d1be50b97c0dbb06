"""Whisper base as a second pass on uncertain utterances: the product without and with it, on the same audio.

An utterance whose tiny.en reading the calibrated gates flag as unsure ("low_confidence") is recognized
again by Whisper base (the note model: same digit-first prompt, beam 5, 5 hypotheses, the grammar and the
chart choosing among them); base's reading is taken when it passes the gates. Everything else is the product
of `bench levers` (n-best, hold, the dev-calibrated gates, a flagged utterance repeated once with the tooth).

    python -m bench levers-base prepare exams=7,43,… shard=0/2   # recognize what both replays need (one per
                                                                 #   core, VOICECHART_ASR__CPU_THREADS=1)
    python -m bench levers-base latency [N]                      # base encode + decode on N utterances that
                                                                 #   went to base, with the default threads
    python -m bench levers-base report exams=7,43,…              # -> results/levers_base.md and .json

`prepare` writes a marker per exam once both replays (with their repeats) are recognized whole; `report`
scores only the exams with a marker, so a run cut short reports on the exams it finished.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus import CorpusExam, corpus_dir, said, utterance_audio
from bench.corpus_eval import (
    HEADER,
    RESULTS,
    ExamResult,
    Lever,
    Recognitions,
    load_gates,
    pct,
    replay,
    row_md,
    selected,
    totals,
    transcript_of,
)
from bench.stats import percentile
from voicechart.audio.sources import pcm16_to_float
from voicechart.dictation.choose import choose
from voicechart.dictation.commands import Interpretation
from voicechart.dictation.interpreter import interpret
from voicechart.guards import Gates, judge_choice
from voicechart.runner import load_transcriber
from voicechart.settings import load_settings

CONFIGS = ("digit",)  # the shipped prompt plays no part here: it is not decoded


def _levers() -> tuple[Lever, Lever]:
    gates = load_gates()
    return (
        Lever("product (tiny.en, dev-calibrated gates)", gates=gates, echo=True),
        Lever("product + Whisper base on uncertain utterances", gates=gates, echo=True, second_pass=True),
    )


BASE_GATES = RESULTS / "levers_base_gates.json"


def _base_gates_lever() -> Lever | None:
    """The second pass with gates of its own on base's reading, calibrated on dev voices (`base-gates`)."""
    if not BASE_GATES.exists():
        return None
    own = Gates(**json.loads(BASE_GATES.read_text())["gates"])
    name = "product + Whisper base, base's own gates (dev-calibrated)"
    return Lever(name, gates=load_gates(), echo=True, second_pass=True, second_gates=own)


def base_gates() -> None:
    """Coordinate search of the gates on base's reading, on the dev voices only (first hearing, utility as
    in `bench gates`); the first pass keeps its own calibrated gates."""
    tiny = Recognitions(configs=CONFIGS)
    base = Recognitions("base")
    exams = [e for e in selected("dev", 10**6) if (_done_dir() / e.id).exists()]
    first = load_gates()
    grids = {
        "depths": [round(-1.4 + 0.1 * i, 2) for i in range(13)],
        "depths_margin": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
        "findings": [round(-1.4 + 0.1 * i, 2) for i in range(13)],
        "findings_margin": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
        "commands": [-1.5, -1.2, -1.0, -0.8, -0.6, -0.4],
    }
    own = first
    history = []
    for _round in range(2):
        for name, grid in grids.items():
            scored = []
            for value in grid:
                candidate = dataclasses.replace(own, **{name: value})
                lever = Lever("base gates", gates=first, second_pass=True, second_gates=candidate)
                t = totals(replay(e, lever, tiny.get, base.get, retries=0) for e in exams)
                scored.append((t["utility"], value, t))
            best = max(scored, key=lambda x: (x[0], -abs(x[1])))
            own = dataclasses.replace(own, **{name: best[1]})
            history.append({"gate": name, "value": best[1], "utility": best[0]})
            print(f"{name} = {best[1]}: utility {best[0]:.1f}, {pct(best[2]['accuracy'])} right, "
                  f"{int(best[2]['wrong_unflagged'])} wrong without a mark", flush=True)  # fmt: skip
    out = {"gates": dataclasses.asdict(own), "dev_exams": [e.id for e in exams], "search": history}
    BASE_GATES.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["gates"]))


def _done_dir() -> Path:
    return corpus_dir() / "base_pass_done"


def _shard() -> str:
    return next((a.split("=", 1)[1] for a in sys.argv if a.startswith("shard=")), "")


def prepare() -> None:
    """Recognize everything the four replays (without/with base, first hearing/with repeats) need."""
    shard = _shard()
    tag = shard.replace("/", "of")
    tiny = Recognitions(shard=tag, configs=CONFIGS)
    base = Recognitions("base", shard=tag)
    exams = selected("test" if "test" in sys.argv else "dev" if "dev" in sys.argv else None, 10**6)
    if "/" in shard:  # I/N: every N-th exam from the I-th; any other shard is only the name of its cache file
        index, of = (int(x) for x in shard.split("/"))
        exams = exams[index::of]
    _done_dir().mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for exam in exams:
        marker = _done_dir() / exam.id
        if marker.exists():
            continue
        t0 = time.perf_counter()
        n_tiny, n_base = len(tiny.rows), len(base.rows)
        for lever in _levers():
            replay(exam, lever, tiny.get, base.get, retries=1)
        marker.write_text(json.dumps({"tiny": len(tiny.rows) - n_tiny, "base": len(base.rows) - n_base}))
        took, total = time.perf_counter() - t0, time.perf_counter() - started
        print(f"{exam.id} ({exam.level}): {len(tiny.rows) - n_tiny} tiny.en, {len(base.rows) - n_base} base "
              f"recognitions in {took:.0f} s; {total:.0f} s in all", flush=True)  # fmt: skip


def _audio_of(exam: CorpusExam, row: dict[str, Any]) -> np.ndarray:
    """The audio a cached recognition was made from (the utterance in the form it was said)."""
    form = {"named": row["named"], "where": row.get("where", False), "resume": row.get("resume", False)}
    return pcm16_to_float(utterance_audio(exam, row["k"], **form))


def latency() -> None:
    """Base's time per uncertain utterance on this machine: encode + decode (digit-first prompt, beam 5, 5
    hypotheses), with the settings' threads, on utterances that went to base in `prepare`."""
    args = [a for a in sys.argv[2:] if a.isdigit()]
    count = int(args[0]) if args else 30
    settings = load_settings()
    base_rows = Recognitions("base").rows
    by_id = {e.id: e for e in selected(None, 10**6)}
    rows = [r for r in base_rows.values() if r["exam"] in by_id][:count]
    out: dict[str, Any] = {"threads": settings.asr.cpu_threads, "machine": platform.processor(), "models": {}}
    for model in ("base", "tiny.en"):
        asr = settings.asr.model_copy(update={"model": model})
        transcriber = load_transcriber(settings.model_copy(update={"asr": asr}))
        warm = _audio_of(by_id[rows[0]["exam"]], rows[0])
        transcriber.decode(
            transcriber.encode(warm), prompt=settings.asr.initial_prompt, n_best=5, max_new_tokens=64
        )
        encode, decode, total = [], [], []
        for r in rows:
            audio = _audio_of(by_id[r["exam"]], r)
            t0 = time.perf_counter()
            encoded = transcriber.encode(audio)
            t1 = time.perf_counter()
            transcriber.decode(encoded, prompt=settings.asr.initial_prompt, n_best=5, max_new_tokens=64)
            t2 = time.perf_counter()
            encode.append(t1 - t0)
            decode.append(t2 - t1)
            total.append(t2 - t0)
        out["models"][model] = {"utterances": len(rows), **_stats("encode", encode),
                                **_stats("decode", decode), **_stats("total", total)}  # fmt: skip
        print(model, json.dumps(out["models"][model]), flush=True)
    out["load_average"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "levers_base_latency.json").write_text(json.dumps(out, indent=1) + "\n")


def _stats(name: str, values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = percentile(ordered, 95)
    median = statistics.median(ordered)
    return {f"{name}_median_ms": round(1000 * median), f"{name}_p95_ms": round(1000 * p95)}


LEVEL_ORDER = {"clean": 0, "20": 1, "15": 2, "10": 3, "5": 4, "all": 9}
Runs = list[tuple[ExamResult, ...]]  # per exam, one result per variant (the first: without base)


def _by(runs: Runs, key: Callable[[ExamResult], str]) -> dict[str, Runs]:
    groups: dict[str, Runs] = defaultdict(list)
    for results in runs:
        groups[key(results[0])].append(results)
    return dict(sorted(groups.items(), key=lambda g: (LEVEL_ORDER.get(g[0], 5), g[0])))


def _variant_table(runs: Runs, names: list[str], key: Callable[[ExamResult], str], title: str) -> list[str]:
    """One row per group and variant: the figures of `bench levers` and the second passes."""
    head, rule = HEADER.format(title).split("\n")
    lines = [head.replace(f"| {title} |", f"| {title} | variant |") + " went to base / base taken |",
             rule + "---|---|"]  # fmt: skip
    groups = _by(runs, key)
    if len(groups) > 1:
        groups["all"] = runs
    for group, members in groups.items():
        for i, name in enumerate(names):
            t = totals(m[i] for m in members)
            cells = row_md(group, t).replace(f"| {group} |", f"| {group} | {name} |", 1)
            lines.append(cells + f" {int(t['second_passes'])} / {int(t['second_accepted'])} |")
    return lines


def _compare(runs: Runs, names: list[str], key: Callable[[ExamResult], str], title: str) -> list[str]:
    """Right and wrong-without-a-mark per group, each variant side by side."""
    columns = (
        " | ".join(f"right: {n}" for n in names) + " | " + " | ".join(f"wrong, no mark: {n}" for n in names)
    )
    lines = [f"| {title} | exams | {columns} |", "|---" * (2 + 2 * len(names)) + "|"]
    for group, members in _by(runs, key).items():
        ts = [totals(m[i] for m in members) for i in range(len(names))]
        right = " | ".join(f"{pct(t['accuracy'])}" for t in ts)
        wrong = " | ".join(f"{int(t['wrong_unflagged'])}" for t in ts)
        lines.append(f"| {group} | {len(members)} | {right} | {wrong} |")
    return lines


def _meaning(interpretation: Interpretation) -> list[tuple[str, list[tuple[str, Any]]]]:
    """What an interpretation charts: its commands without where in the text they were said."""
    return [
        (type(c).__name__, [(f.name, getattr(c, f.name)) for f in dataclasses.fields(c) if f.name != "span"])
        for c in interpretation.commands
    ]


def _per_utterance(
    exams: list[CorpusExam], tiny: Recognitions, base: Recognitions, levers: list[Lever], names: list[str]
) -> list[str]:
    """Each utterance that went to base, on its own (no session, so no cascade and no chart to fit): is the
    reading taken right (it charts what was said) or wrong? Without base none is taken."""
    by_id = {e.id: e for e in exams}
    counts: dict[str, Counter[str]] = {n: Counter() for n in names}
    for row in base.rows.values():
        exam = by_id.get(row["exam"])
        if exam is None:
            continue
        k, named, where = row["k"], row["named"], row.get("where", False)
        truth = _meaning(interpret(said(exam, k, named=named, where=where), exam.numbering))
        first = transcript_of(tiny.get(exam, k, named, where=where), "digit", n_best=True)
        second = transcript_of(row, "digit", n_best=True)
        first_choice = choose(first, exam.numbering)
        second_choice = choose(second, exam.numbering)
        for name, lever in zip(names, levers, strict=True):
            c = counts[name]
            c["went to base"] += 1
            c["tiny.en's reading right"] += _meaning(first_choice.interpretation) == truth
            c["base's reading right"] += _meaning(second_choice.interpretation) == truth
            if not lever.second_pass:
                continue
            verdict = judge_choice(second, second_choice, lever.second_gates or lever.gates)
            if verdict.status == "ok":
                taken = second_choice.interpretation
                if _meaning(taken) == truth:
                    c["taken, right"] += 1
                elif taken.accepted and taken.commands:
                    c["taken, wrong values"] += 1
                else:
                    c["taken, charts nothing"] += 1  # talk, or understood only in part: flagged anyway
    columns = ["went to base", "tiny.en's reading right", "base's reading right"]
    columns += ["taken, right", "taken, wrong values", "taken, charts nothing"]
    lines = ["| variant | " + " | ".join(columns) + " |", "|---" * (1 + len(columns)) + "|"]
    for name in names[1:]:
        lines.append(f"| {name} | " + " | ".join(str(counts[name][c]) for c in columns) + " |")
    return lines


def report() -> None:
    """The variants on the exams `prepare` finished, per split, first hearing and with repeats."""
    tiny = Recognitions(configs=CONFIGS)
    base = Recognitions("base")
    exams = [e for e in selected(None, 10**6) if (_done_dir() / e.id).exists()]
    before = (len(tiny.rows), len(base.rows))
    levers = [*_levers()]
    own = _base_gates_lever()
    if own is not None:
        levers.append(own)
    short = ["without base", "base, tiny.en's gates", "base, its own gates"][: len(levers)]
    out: dict[str, Any] = {
        "variants": {n: lever.name for n, lever in zip(short, levers, strict=True)},
        "gates": dataclasses.asdict(levers[0].gates),
        "base_gates": dataclasses.asdict(own.second_gates) if own and own.second_gates else None,
        "exams": [e.describe() for e in exams],
    }
    sections = [
        "# Whisper base as a second pass on uncertain utterances (`bench levers-base`)",
        "",
        "Variants: "
        + "; ".join(f"*{n}* = {lever.name}" for n, lever in zip(short, levers, strict=True))
        + ".",
        "*went to base* = utterances tiny.en's gates flagged as unsure, recognized again by base; "
        "*base taken* = base's reading passed the gates and was used.",
        "",
    ]
    for split in ("test", "dev"):
        chosen = [e for e in exams if e.split == split]
        if not chosen:
            continue
        for retries, label in ((1, "a flagged utterance repeated with the tooth"), (0, "first hearing")):
            runs: Runs = [
                tuple(replay(e, lv, tiny.get, base.get, retries=retries) for lv in levers) for e in chosen
            ]
            by_level = _by(runs, lambda r: r.exam.level)
            out.setdefault(split, {})[label] = {
                group: {n: totals(m[i] for m in members) for i, n in enumerate(short)}
                for group, members in {**by_level, "all": runs}.items()
            }
            table = _variant_table(runs, short, lambda r: r.exam.level, "level")
            sections += [f"## {split} voices, {label}", "", *table, ""]
            if retries == 1:
                sections += [
                    f"### {split} voices, {label}, by voice",
                    "",
                    *_compare(runs, short, lambda r: r.exam.voice.id, "voice"),
                    "",
                    f"### {split} voices, {label}, by engine",
                    "",
                    *_compare(runs, short, lambda r: r.exam.voice.engine, "engine"),
                    "",
                    f"### {split} voices: the utterances that went to base, each on its own",
                    "",
                    *_per_utterance(chosen, tiny, base, levers, short),
                    "",
                ]
    out["recognized_during_report"] = {
        "tiny.en": len(tiny.rows) - before[0],
        "base": len(base.rows) - before[1],
    }
    ids = {e.id for e in exams}
    rows = [r for r in base.rows.values() if r["exam"] in ids]
    if rows:
        during = [r["encode_s"] + r["digit_s"] for r in rows]
        out["base_during_prepare"] = {"utterances": len(rows), **_stats("total", during)}
    latency_path = RESULTS / "levers_base_latency.json"
    if latency_path.exists():
        out["latency"] = json.loads(latency_path.read_text())
    text = "\n".join(sections) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "levers_base.md").write_text(text)
    (RESULTS / "levers_base.json").write_text(json.dumps(out, indent=1) + "\n")
    print(text)
    print(json.dumps({k: out[k] for k in ("recognized_during_report", "base_during_prepare") if k in out}))


def main() -> None:
    command = sys.argv[2] if len(sys.argv) > 2 else "report"
    {"prepare": prepare, "latency": latency, "report": report, "base-gates": base_gates}[command]()
