"""Reliability under faults, with figures: what was lost and what was duplicated (both must be nothing).

Scenario `sigkill`: sample exams replayed through the real pipeline (`voicechart replay`: VAD, Whisper,
interpreter, session, journal, outbox, in-process sandbox PMS), each SIGKILLed at random moments one to four
times (restarted on the same recording each time), then left to finish; at least 50 kills in all. For each
sample an uninterrupted run first gives the chart the recognizer reads from that voice (the reference); each
killed exam must end with exactly that chart in the PMS: no cell lost or changed, no extra cell, no duplicate
periomeasure row, one exam, nothing waiting or refused in the outbox, the audit chain intact. Also reported:
how long a restarted process took to produce its first result (the catch-up) and each run's peak memory.

Scenario `pms-faults` (bench/pms_faults.py): full-mouth exams delivered to the sandbox's API while the
network and the PMS fail a share of the requests; nothing may be lost silently or duplicated.

Scenario `journal-faults` (bench/journal_faults.py): the journal's disk turns read-only or full mid-exam;
every utterance meanwhile is answered "not stored" at once and changes nothing; said again, the exam ends
exactly as dictated.

Scenario `concurrent-edits` (bench/concurrent_edits.py): a user in Open Dental changes rows of the exam
being dictated and sometimes saves a second exam; nothing of theirs is overwritten, every dictated value is in
the PMS or kept for a person, every second exam is surfaced.

    .venv/bin/python -m bench reliability [KILLS] [sigkill] [pms-faults] [journal-faults] [concurrent-edits]
        (default: every scenario, 50 kills; results in bench/results/reliability.*)
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import concurrent_edits, journal_faults, pms_faults
from voicechart.accuracy import expected_cells
from voicechart.pms.sandbox.seed import DEMO_PATIENTS
from voicechart.settings import SAMPLES_DIR
from voicechart.simulate.crash import Outcome, kill_and_finish, outcome, pms_cells

RESULTS = Path(__file__).parent / "results"
SEED = 20261130
SAMPLES = ("a-piper-joe", "a-flite-rms", "b-flite-slt")
STARTUP_S = 2.5  # a kill before the model is loaded only tests start-up: most kills land after it


def _patient(entry: dict[str, Any]) -> int:
    missing = set(entry["patient"]["missing_teeth"])
    return next(p.pat_num for p in DEMO_PATIENTS if set(p.missing_teeth) | set(p.hidden_teeth) == missing)


def sigkill(kills: int) -> dict[str, Any]:
    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
    entries = {s["id"]: s for s in manifest["samples"]}
    rng = random.Random(SEED)
    exams: list[dict[str, Any]] = []
    done = 0
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        references: dict[str, tuple[dict[str, int], float]] = {}
        for sample in SAMPLES:
            references[sample] = _reference_cells(entries[sample], tmp / f"ref-{sample}")
        n = 0
        while done < kills:
            sample = SAMPLES[n % len(SAMPLES)]
            entry = entries[sample]
            reference, duration = references[sample]
            delays = [rng.uniform(STARTUP_S, duration) for _ in range(min(rng.randint(1, 4), kills - done))]
            started = time.monotonic()
            runs = kill_and_finish(SAMPLES_DIR / entry["audio"], _patient(entry), tmp / f"exam-{n}", delays)
            result = outcome(tmp / f"exam-{n}", _patient(entry), reference, runs)
            done += result.kills
            exams.append(_exam_report(sample, result, time.monotonic() - started, entry, reference))
            print(
                f"exam {n} ({sample}): {result.kills} kills, lost {len(result.lost)}, extra "
                f"{len(result.extra)}, duplicate rows {result.duplicate_rows}, exams {result.exams}, "
                f"pending {result.pending}, ok={result.ok}",
                flush=True,
            )
            n += 1
    return _summary(exams)


def _reference_cells(entry: dict[str, Any], tmp: Path) -> tuple[dict[str, int], float]:
    """The chart an uninterrupted run puts in the PMS, and how long that run took."""
    pat = _patient(entry)
    runs = kill_and_finish(SAMPLES_DIR / entry["audio"], pat, tmp, [])
    return pms_cells(tmp, pat), runs[-1].seconds


def _exam_report(
    sample: str, result: Outcome, seconds: float, entry: dict[str, Any], reference: dict[str, int]
) -> dict[str, Any]:
    dictated = expected_cells(entry["expected_chart"])
    restarts = [r.first_output_s for r in result.runs[1:] if r.first_output_s is not None]
    return {
        "sample": sample,
        "kills": result.kills,
        "kill_moments_s": [round(r.seconds, 2) for r in result.runs if r.killed],
        "runs": len(result.runs),
        "edits": result.edits,
        "lost": list(result.lost),
        "extra": list(result.extra),
        "duplicate_rows": result.duplicate_rows,
        "exams": result.exams,
        "pending": result.pending,
        "rejected": result.rejected,
        "audit_intact": result.audit_intact,
        "ok": result.ok,
        "reference_equals_manifest": reference == dictated,
        "longest_catch_up_s": round(max(restarts), 2) if restarts else None,
        "max_rss_mb": [round(r.max_rss_kb / 1024, 1) for r in result.runs],
        "seconds": round(seconds, 1),
    }


def _summary(exams: list[dict[str, Any]]) -> dict[str, Any]:
    catch_up = [e["longest_catch_up_s"] for e in exams if e["longest_catch_up_s"] is not None]
    rss = [m for e in exams for m in e["max_rss_mb"]]
    return {
        "scenario": "sigkill",
        "exams": len(exams),
        "kills": sum(e["kills"] for e in exams),
        "runs": sum(e["runs"] for e in exams),
        "edits": sum(e["edits"] for e in exams),
        "lost_cells": sum(len(e["lost"]) for e in exams),
        "extra_cells": sum(len(e["extra"]) for e in exams),
        "duplicate_rows": sum(e["duplicate_rows"] for e in exams),
        "duplicate_exams": sum(max(0, e["exams"] - 1) for e in exams),
        "pending_at_end": sum(e["pending"] for e in exams),
        "rejected": sum(e["rejected"] for e in exams),
        "audit_chains_broken": sum(not e["audit_intact"] for e in exams),
        "exams_not_exact": sum(not e["ok"] for e in exams),
        "longest_catch_up_s": max(catch_up) if catch_up else None,
        "median_catch_up_s": round(statistics.median(catch_up), 2) if catch_up else None,
        "max_rss_mb": max(rss) if rss else None,
        "rss_mb_in_run_order": rss,
        "per_exam": exams,
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = ["# Reliability (`python -m bench reliability`)", ""]
    if "sigkill" in report:
        lines += _sigkill_markdown(report["sigkill"])
    if "pms-faults" in report:
        lines += _faults_markdown(report["pms-faults"])
    if "journal-faults" in report:
        lines += _journal_markdown(report["journal-faults"])
    if "concurrent-edits" in report:
        lines += _concurrent_markdown(report["concurrent-edits"])
    return "\n".join(lines)


def _sigkill_markdown(s: dict[str, Any]) -> list[str]:
    return [
        "## SIGKILL mid-exam (real pipeline, sandbox PMS in process)",
        "",
        f"{s['exams']} exams replayed from {', '.join(SAMPLES)}; {s['kills']} SIGKILLs at random moments "
        f"({s['runs']} process runs), each exam restarted on the same recording until it finished.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| chart edits journaled | {s['edits']} |",
        f"| cells lost or changed | {s['lost_cells']} |",
        f"| extra cells | {s['extra_cells']} |",
        f"| duplicate periomeasure rows | {s['duplicate_rows']} |",
        f"| duplicate exams | {s['duplicate_exams']} |",
        f"| edits still waiting at the end | {s['pending_at_end']} |",
        f"| edits refused | {s['rejected']} |",
        f"| audit chains broken | {s['audit_chains_broken']} |",
        f"| exams not exactly the reference chart | {s['exams_not_exact']} |",
        f"| catch-up after a restart (launch → first result), median / longest | "
        f"{s['median_catch_up_s']} s / {s['longest_catch_up_s']} s |",
        f"| peak memory of a run (max RSS), largest | {s['max_rss_mb']} MB |",
        "",
        "The reference is the chart an uninterrupted run of the same recording puts in the PMS. Memory per "
        "run, in run order (MB): " + ", ".join(str(m) for m in s["rss_mb_in_run_order"]),
        "",
    ]


def _faults_markdown(f: dict[str, Any]) -> list[str]:
    return [
        "## A misbehaving PMS (outbox → Open Dental API connector → sandbox API over HTTP)",
        "",
        f"{f['exams']} random full-mouth exams, each delivered as it is dictated while "
        f"{int(pms_faults.WRITE_FAULT_RATE * 100)} % of writes and {int(pms_faults.READ_FAULT_RATE * 100)} % "
        f"of reads fail (unreachable, 500 before or after the write, timeout or reset after it landed, 429, "
        f"landing late) and {int(pms_faults.REFUSE_RATE * 100)} % of writes are refused (400).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| chart edits | {f['edits']} |",
        f"| PMS writes (after coalescing) | {f['pms_writes']} |",
        f"| HTTP requests / faults injected | {f['requests']} / {f['faults_injected']} |",
        f"| edits refused and kept for a person | {f['refused_kept_for_review']} |",
        f"| cells lost silently | {f['lost_silently']} |",
        f"| extra or duplicate rows | {f['extra_rows'] + f['duplicate_rows']} |",
        f"| edits still waiting at the end | {f['pending_at_end']} |",
        f"| longest time to deliver an exam (dictation included) | {f['longest_delivery_s']} s |",
        "",
    ]


def _journal_markdown(j: dict[str, Any]) -> list[str]:
    faults = j["faults"]
    return [
        "## The journal's disk read-only or full mid-exam (pipeline, scripted recognizer, sandbox PMS)",
        "",
        f"{j['exams']} random full-mouth exams; in each, a random stretch of 1–6 utterances while the "
        f"journal cannot write ({faults['read-only']} read-only, {faults['disk-full']} disk full); the "
        "hygienist says those utterances again once it can, as the message asks.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| utterances (repeats included) | {j['utterances']} |",
        f"| utterances while the journal could not write | {j['utterances_in_fault']} |",
        f"| answered “not stored” / told at once (earcon and message) | {j['not_stored']} / "
        f"{j['told_at_once']} |",
        f"| acknowledged without being stored | {j['acknowledged_not_stored']} |",
        "| cells lost or changed (against the same dictation without a fault) | "
        f"{j['cells_lost_or_changed']} |",
        f"| extra rows / duplicate rows | {j['extra_rows']} / {j['duplicate_rows']} |",
        f"| edits still waiting at the end | {j['pending_at_end']} |",
        "",
    ]


def _concurrent_markdown(c: dict[str, Any]) -> list[str]:
    return [
        "## Someone else edits the exam in Open Dental meanwhile (outbox → API connector → sandbox API)",
        "",
        f"{c['exams']} random full-mouth exams delivered as they are dictated while a user changes rows of "
        f"the same exam ({int(concurrent_edits.USER_EDIT_RATE * 100)} % of utterances) and, in about half of "
        "them, saves a second exam that day (Open Dental's answer to a chart that changed while open).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| chart edits | {c['edits']} |",
        f"| rows the user changed / their values overwritten | {c['rows_they_changed']} / "
        f"{c['their_values_overwritten']} |",
        f"| dictated edits kept for a person as conflicts | {c['conflicts_kept_for_a_person']} |",
        f"| dictated cells lost silently | {c['dictated_cells_lost_silently']} |",
        f"| second exams made / surfaced for a person | {c['second_exams_made']} / "
        f"{c['second_exams_surfaced']} |",
        f"| duplicate rows | {c['duplicate_rows']} |",
        "",
    ]


def main() -> None:
    args = sys.argv[2:]
    kills = next((int(a) for a in args if a.isdigit()), 50)
    chosen = [a for a in args if not a.isdigit()] or [
        "sigkill",
        "pms-faults",
        "journal-faults",
        "concurrent-edits",
    ]
    path = RESULTS / "reliability.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if "pms-faults" in chosen:
        report["pms-faults"] = pms_faults.run()
    if "journal-faults" in chosen:
        report["journal-faults"] = journal_faults.run()
    if "concurrent-edits" in chosen:
        report["concurrent-edits"] = concurrent_edits.run()
    if "sigkill" in chosen:
        report["sigkill"] = sigkill(kills)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "reliability.md").write_text(_markdown(report))
    print(_markdown(report))
