"""python -m bench [asr|vad] — run the benchmarks (see bench/README.md)."""

from __future__ import annotations

import sys

from bench import asr_models, live, notes_wer, pms_hop, recognizer, text_level, vad

BENCHES = {
    "asr": asr_models.main,
    "vad": vad.main,
    "recognizer": recognizer.main,
    "calibrate": recognizer.recalibrate,
    "audio": asr_models.audio_level,
    "text": text_level.main,
    "pms": pms_hop.main,
    "notes": notes_wer.main,
    "live": live.main,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for name in names:
        BENCHES[name]()
