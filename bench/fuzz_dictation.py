"""Coverage-guided fuzzing (atheris, libFuzzer) of the interpreter and the exam session: each input is a
dictation (utterances split on newlines) applied to one session; any exception, or a broken safety invariant
(voicechart.simulate.fuzz: the chart changes only through a whole valid command, every row written is one
the PMS accepts), is a crash that libFuzzer reports and saves.

    .venv/bin/python -m bench fuzz [-runs=N | -max_total_time=S] [CORPUS_DIR]
        (default: 60 s, corpus in a temporary directory; bench/results/fuzz_dictation.json)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SEEDS = [
    "start perio exam\nthree two four\nbleeding distal\n4 3 3, 3 2 3\nscratch that\nskip",
    "tooth 14 lingual 2 2 3\nrecession two one two\nfurcation grade two\nmobility one\nend exam",
    "go to tooth 30\nM G J three\ngingival margin plus one\ncorrection tooth 3 facial 4 3 4\nundo",
]


_STATE: dict[str, object] = {"runs": 0, "edits": 0}


def _report() -> None:
    RESULTS.mkdir(exist_ok=True)
    started = float(_STATE["started"])
    report = {
        "runs": _STATE["runs"],
        "edits_made": _STATE["edits"],
        "seconds": round(time.monotonic() - started, 1),
        "args": _STATE["args"],
        "invariant_broken_or_crashed": False,  # libFuzzer stops at the first one, before this is written
    }
    (RESULTS / "fuzz_dictation.json").write_text(json.dumps(report, indent=2) + "\n")


def _one_input(data: bytes) -> None:
    import atheris

    from voicechart.simulate.fuzz import check_dictation

    fdp = atheris.FuzzedDataProvider(data)
    numbering = "fdi" if fdp.ConsumeBool() else "universal"
    text = fdp.ConsumeUnicodeNoSurrogates(4096)
    _STATE["edits"] = int(_STATE["edits"]) + check_dictation(text.split("\n")[:60], numbering)
    _STATE["runs"] = runs = int(_STATE["runs"]) + 1
    if runs % 2000 == 0:
        _report()


def main() -> None:
    import atheris

    args = list(sys.argv[2:])
    if not any(a.startswith(("-runs=", "-max_total_time=")) for a in args):
        args.append("-max_total_time=60")
    corpus = next((Path(a) for a in args if not a.startswith("-")), None)
    if corpus is None:
        corpus = Path(tempfile.mkdtemp(prefix="voicechart-fuzz-"))
        args.append(str(corpus))
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed-{i}").write_bytes(b"\x00" + seed.encode())
    with atheris.instrument_imports():
        import voicechart.dictation.interpreter
        import voicechart.exam.session
        import voicechart.simulate.fuzz  # noqa: F401
    _STATE.update(started=time.monotonic(), args=args)
    atheris.Setup([sys.argv[0], *args], _one_input)
    atheris.Fuzz()
