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
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import corpus_dir, utterance_audio
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
)
from voicechart.audio.sources import pcm16_to_float
from voicechart.runner import load_transcriber
from voicechart.settings import load_settings

CONFIGS = ("digit",)  # the shipped prompt plays no part here: it is not decoded


def _levers() -> tuple[Lever, Lever]:
    gates = load_gates()
    return (
        Lever("product (tiny.en, dev-calibrated gates)", gates=gates),
        Lever("product + Whisper base on uncertain utterances", gates=gates, second_pass=True),
    )


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
        warm = pcm16_to_float(utterance_audio(by_id[rows[0]["exam"]], rows[0]["k"], named=rows[0]["named"]))
        transcriber.decode(transcriber.encode(warm), prompt=settings.asr.initial_prompt, n_best=5)
        encode, decode, total = [], [], []
        for r in rows:
            audio = pcm16_to_float(utterance_audio(by_id[r["exam"]], r["k"], named=r["named"]))
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
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return {f"{name}_median_ms": round(1000 * median), f"{name}_p95_ms": round(1000 * p95)}


def _table(groups: dict[str, list[tuple[ExamResult, ExamResult]]], title: str, which: int) -> list[str]:
    head, rule = HEADER.format(title).split("\n")
    lines = [head + " went to base / taken |", rule + "---|"]
    for name in sorted(groups, key=lambda g: ({"clean": 0, "20": 1, "15": 2, "10": 3, "5": 4}.get(g, 9), g)):
        t = totals(pair[which] for pair in groups[name])
        lines.append(row_md(name, t) + f" {int(t['second_passes'])} / {int(t['second_accepted'])} |")
    return lines


def _compare(pairs: list[tuple[ExamResult, ExamResult]], key: Callable[[ExamResult], str]) -> list[str]:
    groups: dict[str, list[tuple[ExamResult, ExamResult]]] = defaultdict(list)
    for pair in pairs:
        groups[key(pair[0])].append(pair)
    lines = ["| group | exams | cells | right without → with base | wrong, no mark without → with | "
             "marked without → with | base calls |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in sorted(groups, key=lambda g: ({"clean": 0, "20": 1, "15": 2, "10": 3, "5": 4}.get(g, 9), g)):
        a = totals(p[0] for p in groups[name])
        b = totals(p[1] for p in groups[name])
        lines.append(
            f"| {name} | {int(a['exams'])} | {int(a['cells'])} | {pct(a['accuracy'])} → "
            f"**{pct(b['accuracy'])}** | {int(a['wrong_unflagged'])} → **{int(b['wrong_unflagged'])}** | "
            f"{int(a['marked'])} → {int(b['marked'])} | {int(b['second_passes'])} |"
        )
    return lines


def report() -> None:
    tiny = Recognitions(configs=CONFIGS)
    base = Recognitions("base")
    split = "test" if "test" in sys.argv else "dev" if "dev" in sys.argv else None
    exams = [e for e in selected(split, 10**6) if (_done_dir() / e.id).exists()]
    before = (len(tiny.rows), len(base.rows))
    without, with_base = _levers()
    out: dict[str, Any] = {"exams": [e.describe() for e in exams], "gates": dataclasses.asdict(without.gates)}
    sections: list[str] = []
    for split_name in ("test", "dev"):
        chosen = [e for e in exams if e.split == split_name]
        if not chosen:
            continue
        runs: dict[str, list[tuple[ExamResult, ExamResult]]] = {}
        for retries, label in ((0, "first hearing"), (1, "a flagged utterance repeated with the tooth")):
            runs[label] = [
                (replay(e, without, tiny.get, None, retries=retries),
                 replay(e, with_base, tiny.get, base.get, retries=retries))
                for e in chosen
            ]  # fmt: skip
        for label, pairs in runs.items():
            out.setdefault(split_name, {})[label] = {
                "without": totals(p[0] for p in pairs),
                "with_base": totals(p[1] for p in pairs),
                "by_level": {
                    level: {
                        "without": totals(p[0] for p in pairs if p[0].exam.level == level),
                        "with_base": totals(p[1] for p in pairs if p[0].exam.level == level),
                    }
                    for level in sorted({p[0].exam.level for p in pairs})
                },
            }
            sections += [
                f"## {split_name} voices, {label}: without vs with base, by noise level",
                "",
                *_compare(pairs, lambda r: r.exam.level),
                *_compare(pairs, lambda r: "all")[2:],
                "",
            ]
            for which, name in ((0, "without base"), (1, "with base")):
                table = _table(_group(pairs), "level", which)
                sections += [f"### {split_name}, {label}, {name}", "", *table, ""]
        repeats = runs["a flagged utterance repeated with the tooth"]
        sections += [
            f"## {split_name} voices, with repeats, by voice",
            "",
            *_compare(repeats, lambda r: r.exam.voice.id),
            "",
            f"## {split_name} voices, with repeats, by engine",
            "",
            *_compare(repeats, lambda r: r.exam.voice.engine),
            "",
        ]
    recognized_here = (len(tiny.rows) - before[0], len(base.rows) - before[1])
    out["recognized_during_report"] = {"tiny.en": recognized_here[0], "base": recognized_here[1]}
    rows = [r for r in base.rows.values() if r["exam"] in {e.id for e in exams}]
    if rows:
        stamp = [r["encode_s"] + r["digit_s"] for r in rows]
        out["base_rows_under_load"] = {"utterances": len(rows), **_stats("total", stamp)}
    latency_path = RESULTS / "levers_base_latency.json"
    if latency_path.exists():
        out["latency"] = json.loads(latency_path.read_text())
    text = "\n".join(sections) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "levers_base.md").write_text(text)
    (RESULTS / "levers_base.json").write_text(json.dumps(out, indent=1) + "\n")
    print(text)
    print(json.dumps({k: out[k] for k in ("recognized_during_report", "base_rows_under_load") if k in out}))


def _group(pairs: list[tuple[ExamResult, ExamResult]]) -> dict[str, list[tuple[ExamResult, ExamResult]]]:
    groups: dict[str, list[tuple[ExamResult, ExamResult]]] = defaultdict(list)
    for pair in pairs:
        groups[pair[0].exam.level].append(pair)
    groups["all"] = list(pairs)
    return groups


def main() -> None:
    command = sys.argv[2] if len(sys.argv) > 2 else "report"
    {"prepare": prepare, "latency": latency, "report": report}[command]()
