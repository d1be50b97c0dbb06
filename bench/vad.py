"""Segmentation under operatory noise: utterances found vs. the true utterance boundaries of the samples.

For each detector (webrtc, silero, webrtc+silero), sample and noise (clean; scaler, suction, white and babble
at 15 and 8 dB SNR): a true utterance is *found* when exactly one segment overlaps it and that segment
overlaps no other utterance; *extra* segments overlap no utterance; *merged* segments cover several.

A fourth column, *live*, is the segmenter exactly as configured for live use: Silero plus the early end
(the real recognizer and parser asked at every pause, `vad.probe_ms`). There a spoken utterance may also be
*split* at a pause after a whole command ("four three three, | three two three"): found, in two parts.

    scripts/dev bench vad      (or: .venv/bin/python -m bench vad)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from voicechart.audio.detectors import make_detector
from voicechart.audio.noise import make_noise, mix_at_snr
from voicechart.audio.segmenter import ProbeAnswer, Segmenter, SegmenterConfig
from voicechart.audio.sources import array_chunks, decode_file, pcm16_to_float
from voicechart.pipeline import PipelineOptions, probe_answer
from voicechart.runner import load_transcriber, make_segmenter
from voicechart.samples import load_manifest
from voicechart.settings import SAMPLES_DIR, load_settings

DETECTORS = ("webrtc", "silero", "webrtc+silero", "live")
CONDITIONS = [("clean", None)] + [
    (f"{k}{snr}", (k, snr)) for snr in (15, 8) for k in ("scaler", "suction", "white", "babble")
]
RESULTS = Path(__file__).parent / "results"


def score(segments: list[tuple[float, float]], truth: list[tuple[float, float]]) -> dict[str, int]:
    def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    found = sum(
        1
        for t in truth
        if len([s for s in segments if overlaps(s, t)]) == 1
        and all(len([u for u in truth if overlaps(s, u)]) == 1 for s in segments if overlaps(s, t))
    )
    extra = sum(1 for s in segments if not any(overlaps(s, t) for t in truth))
    merged = sum(1 for s in segments if len([t for t in truth if overlaps(s, t)]) > 1)
    split = sum(
        1
        for t in truth
        if len([s for s in segments if overlaps(s, t)]) > 1
        and all(len([u for u in truth if overlaps(s, u)]) == 1 for s in segments if overlaps(s, t))
    )
    return {"found": found, "true": len(truth), "extra": extra, "merged": merged, "split": split}


class _Answered:
    def __init__(self, answer: ProbeAnswer) -> None:
        self._answer = answer

    def answer(self) -> ProbeAnswer:
        return self._answer

    def cancel(self) -> None:
        pass


def live_segmenter() -> Callable[[], Segmenter]:
    """The live segmenter (settings as configured) with an early-end probe on the real recognizer."""
    settings = load_settings()
    transcriber = load_transcriber(settings)
    options = PipelineOptions(
        min_avg_logprob=settings.asr.min_avg_logprob,
        min_avg_logprob_commands=settings.asr.min_avg_logprob_commands,
        max_no_speech_prob=settings.asr.max_no_speech_prob,
    )

    def probe(pcm: np.ndarray) -> _Answered:
        return _Answered(probe_answer(transcriber.transcribe(pcm16_to_float(pcm)), options))

    def make() -> Segmenter:
        segmenter = make_segmenter(settings)
        segmenter.probe = probe
        return segmenter

    return make


def main() -> None:
    manifest = load_manifest()
    audio = {sid: decode_file(SAMPLES_DIR / e["audio"]) for sid, e in manifest.items()}
    rows = []
    make_live = live_segmenter()
    for cond, spec in CONDITIONS:
        for detector in DETECTORS:
            total = {"found": 0, "true": 0, "extra": 0, "merged": 0, "split": 0}
            for i, (sid, entry) in enumerate(manifest.items()):
                pcm = audio[sid]
                if spec is not None:
                    kind, snr = spec
                    others = [a for s, a in audio.items() if s != sid][:3]
                    noise = make_noise(kind, len(pcm), seed=i, babble_sources=others)
                    pcm = mix_at_snr(pcm, noise, snr)
                seg = (
                    make_live()
                    if detector == "live"
                    else Segmenter(
                        make_detector(detector, webrtc_mode=2, threshold=0.5, neg_threshold=0.35),
                        SegmenterConfig(),
                    )
                )
                segments = [(u.start_s, u.speech_end_s) for u in seg.segment(array_chunks(pcm))]
                truth = [(u["start_s"], u["end_s"]) for u in entry["utterances"]]
                for k, v in score(segments, truth).items():
                    total[k] += v
            rows.append({"condition": cond, "detector": detector, **total})
    print("| condition | " + " | ".join(DETECTORS) + " |")
    print("|---|" + "---|" * len(DETECTORS))
    for cond, _ in CONDITIONS:
        cells = []
        for detector in DETECTORS:
            r = next(x for x in rows if x["condition"] == cond and x["detector"] == detector)
            split = f", {r['split']} split" if detector == "live" else ""
            cells.append(f"{r['found']}/{r['true']} found{split}, {r['extra']} extra, {r['merged']} merged")
        print(f"| {cond} | " + " | ".join(cells) + " |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vad.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
