"""python -m bench [asr|vad] — run the benchmarks (see bench/README.md)."""

from __future__ import annotations

import sys

from bench import asr_models, vad

BENCHES = {"asr": asr_models.main, "vad": vad.main}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    for name in names:
        BENCHES[name]()
