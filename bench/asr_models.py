"""tiny.en vs base on the spoken samples, through the whole pipeline into a sandbox PMS.

Reports per model and sample: chart-cell accuracy, wrong values in the PMS, missing values, flagged
utterances, recognition time per utterance (median, p90) and end of speech → PMS commit (median).

    scripts/dev bench asr      (or: .venv/bin/python -m bench asr)
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from voicechart.runner import load_transcriber
from voicechart.samples import load_manifest, replay_sample
from voicechart.settings import load_settings

RESULTS = Path(__file__).parent / "results"


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))] if values else 0.0


def main(models: tuple[str, ...] = ("tiny.en", "base")) -> None:
    """Both models (the comparison that chose the default)."""
    run_models(models, "asr_models.json")


def audio_level() -> None:
    """The default model only: the audio-level accuracy figure of the README."""
    run_models((load_settings().asr.model,), "audio_level.json")


def run_models(models: tuple[str, ...], results_name: str) -> None:
    base_settings = load_settings()
    rows = []
    for model in models:
        settings = base_settings.model_copy(
            update={"asr": base_settings.asr.model_copy(update={"model": model})}
        )
        transcriber = load_transcriber(settings)
        for sample_id, entry in load_manifest().items():
            with tempfile.TemporaryDirectory() as tmp:
                run_settings = settings.model_copy(update={"data_dir": tmp})
                run = replay_sample(
                    entry,
                    settings=run_settings,
                    transcriber=transcriber,
                    pms_url=f"sqlite:///{tmp}/pms.sqlite3",
                )
            asr = [r.latency_ms["asr"] for r in run.results]
            e2e = [
                r.latency_ms["speech_end_to_pms"] for r in run.results if "speech_end_to_pms" in r.latency_ms
            ]
            rows.append(
                {
                    "model": model,
                    "sample": sample_id,
                    "cells": run.score.total,
                    "accuracy": round(run.score.accuracy, 3),
                    "wrong": run.score.wrong,
                    "wrong_unflagged": len(run.wrong_unflagged),
                    "flagged_cells": len(run.flagged_cells),
                    "missing": run.score.missing,
                    "flagged": run.flagged_utterances,
                    "utterances": len(run.results),
                    "asr_ms_median": round(statistics.median(asr), 1),
                    "asr_ms_p90": round(_p90(asr), 1),
                    "speech_end_to_pms_ms_median": round(statistics.median(e2e), 1) if e2e else None,
                }
            )
    header = (
        "model | sample | cells | accuracy | wrong (not flagged) | values flagged | missing "
        "| utterances flagged | ASR ms p50/p90 | end→PMS p50"
    )
    print(f"| {header} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['sample']} | {r['cells']} | {r['accuracy']:.1%} "
            f"| {r['wrong']} ({r['wrong_unflagged']}) | {r['flagged_cells']} | {r['missing']} "
            f"| {r['flagged']}/{r['utterances']} | {r['asr_ms_median']:.0f} / {r['asr_ms_p90']:.0f} "
            f"| {r['speech_end_to_pms_ms_median']} |"
        )
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        cells = sum(r["cells"] for r in mine)
        correct = sum(round(r["accuracy"] * r["cells"]) for r in mine)
        print(
            f"{model}: {correct}/{cells} cells = {correct / cells:.1%}, "
            f"wrong {sum(r['wrong'] for r in mine)} ({sum(r['wrong_unflagged'] for r in mine)} not flagged), "
            f"ASR median of medians {statistics.median(r['asr_ms_median'] for r in mine):.0f} ms"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / results_name).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
