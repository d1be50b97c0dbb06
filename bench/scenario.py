"""Running a reliability scenario exam by exam: each in its own temporary directory, its figures printed as
it ends and summed at the end (see bench/reliability.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

OneExam = Callable[[int, Path], dict[str, Any]]


def run_exams(name: str, one_exam: OneExam, exams: int, summed: Sequence[str]) -> dict[str, Any]:
    """`one_exam(seed, directory)` for seeds 0…exams−1; the report: the scenario's name, the number of
    exams, the `summed` figures added up over the exams, and every exam's own figures."""
    per_exam = []
    for seed in range(exams):
        with tempfile.TemporaryDirectory() as tmp:
            per_exam.append(one_exam(seed, Path(tmp)))
        print(f"{name} exam {seed}: {per_exam[-1]}", flush=True)
    totals = {k: sum(e[k] for e in per_exam) for k in summed}
    return {"scenario": name, "exams": exams, **totals, "per_exam": per_exam}
