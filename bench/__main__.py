"""python -m bench [asr|vad] — run the benchmarks (see bench/README.md)."""

from __future__ import annotations

import sys

from bench import (
    asr_models,
    base_pass,
    corpus,
    corpus_eval,
    fuzz_dictation,
    live,
    load,
    misheard,
    notes_corpus,
    notes_wer,
    pms_hop,
    recognizer,
    reliability,
    second_ear_lm,
    second_opinion,
    text_level,
    vad,
    web,
)

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
    "corpus": corpus.main,
    "recognize": corpus_eval.recognize_main,
    "second-ear-lm": second_ear_lm.main,
    "gates": corpus_eval.gates_main,
    "levers": corpus_eval.levers_main,
    "product": corpus_eval.product_main,
    "levers-base": base_pass.main,
    "second-opinion": second_opinion.main,
    "notes-corpus": notes_corpus.main,
    "web": web.main,
    "load": load.main,
    "reliability": reliability.main,
    "fuzz": fuzz_dictation.main,
    "misheard": misheard.main,
}

WITH_ARGUMENTS = (
    "corpus", "recognize", "gates", "levers", "levers-base", "second-opinion", "product", "notes-corpus",
    "load", "reliability", "fuzz", "misheard",
)  # fmt: skip
"""Benchmarks with arguments of their own, not run by a bare `bench` (the corpus ones take an hour or more
on 2 cores; load and reliability half an hour)."""

if __name__ == "__main__":
    names = sys.argv[1:] or [n for n in BENCHES if n not in WITH_ARGUMENTS]
    if names[0] in WITH_ARGUMENTS:  # these take arguments of their own
        BENCHES[names[0]]()
    else:
        for name in names:
            BENCHES[name]()
