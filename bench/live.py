"""Live latency, concurrency and memory, measured from outside the process, through the Open Dental API.

Setup: a sandbox PMS served over Open Dental's REST API by `voicechart pms serve` (its own process); one
patient per operatory (the sample's missing teeth) scheduled in that operatory now.

1. Latency (`listen --source -`): each sample exam is written to listen's stdin as raw PCM at speaking
   speed. A poller in this process reads GET /periomeasures every 40 ms. For every charted utterance
   (listen --json says which rows it wrote), latency = the moment all of its values were visible through the
   API − the moment the writer had written the end of that utterance's speech (the manifest's end_s, the
   script's own timeline, not the detector's). Median and p95.
2. Concurrency (`serve`, one named pipe per operatory, one shared model): N operatories dictate at once
   (each its own sample, started together); same latency measure over all of them; resident memory of the
   serve process (sampled every 0.25 s: its peak VmRSS). N = 1, 2, 3, 4, 5, 6.

    scripts/dev bench live        (or: .venv/bin/python -m bench live)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from bench.stats import percentile
from voicechart.audio.sources import decode_file
from voicechart.loopback import free_port
from voicechart.pms.odapi.wire import SITE_FIELDS
from voicechart.pms.sandbox import add_patient, create_sandbox
from voicechart.pms.sandbox.seed import add_operatory_appointment, seed_demo
from voicechart.samples import load_manifest
from voicechart.settings import SAMPLES_DIR

RESULTS = Path(__file__).parent / "results"
RATE = 16_000
CHUNK = 480  # 30 ms
POLL_S = 0.04
KEYS = {"VOICECHART_OD_DEVELOPER_KEY": "bench-live", "VOICECHART_OD_CUSTOMER_KEY": "bench-live"}
AUTH = {"Authorization": "ODFHIR bench-live/bench-live"}
SITES = ("MB", "B", "DB", "ML", "L", "DL")
CONCURRENCY = (1, 2, 3, 4, 5, 6)


class Sandbox:
    """The PMS (SQLite) served over the API in its own process."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite:///{tmp / 'pms.sqlite3'}"
        self.engine = sa.create_engine(self.db_url)
        create_sandbox(self.engine)
        seed_demo(self.engine, dt.date.today())
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v1"
        self.env = {**os.environ, **KEYS, "VOICECHART_DATA_DIR": str(tmp), "VOICECHART_PMS_URL": self.api}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voicechart.cli",
                "pms",
                "serve",
                "--pms",
                self.db_url,
                "--port",
                str(self.port),
            ],
            env=self.env,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.api}/patients/1", headers=AUTH, timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the sandbox API did not start")

    def patient_in(self, op_num: int, entry: dict[str, Any]) -> int:
        pat_num = add_patient(
            self.engine,
            first_name="Bench",
            last_name=f"Op{op_num}",
            missing_teeth=tuple(entry["patient"]["missing_teeth"]),
        )
        add_operatory_appointment(self.engine, op_num, pat_num, dt.datetime.now() - dt.timedelta(minutes=5))
        return pat_num

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.engine.dispose()


class Poller(threading.Thread):
    """Watches one patient's exam through the API; records when each cell first showed each value."""

    def __init__(self, api: str, pat_num: int) -> None:
        super().__init__(daemon=True)
        self.api, self.pat_num = api, pat_num
        self.seen: dict[tuple[str, int, str, int], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        client = httpx.Client(headers=AUTH, timeout=5)
        exam_num = None
        while not self.stop.is_set():
            now = time.perf_counter()
            try:
                if exam_num is None:
                    exams = client.get(f"{self.api}/perioexams", params={"PatNum": self.pat_num}).json()
                    exam_num = exams[0]["PerioExamNum"] if exams else None
                else:
                    rows = client.get(f"{self.api}/periomeasures", params={"PerioExamNum": exam_num}).json()
                    for row in rows:
                        for site, field in zip(SITES, SITE_FIELDS, strict=True):
                            key = (row["SequenceType"], row["IntTooth"], site, row[field])
                            self.seen.setdefault(key, now)
            except httpx.HTTPError:
                pass
            time.sleep(POLL_S)
        client.close()

    def visible_at(self, edit: dict[str, Any]) -> float | None:
        times = [
            self.seen.get((edit["sequence_type"], edit["tooth"], site, value))
            for site, value in edit["sites"].items()
        ]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)


def _write_paced(pipe: Any, pcm: np.ndarray, started: list[float]) -> None:
    audio = np.concatenate([pcm, np.zeros(RATE * 2, dtype=np.int16)])  # trailing silence closes the last one
    t0 = time.perf_counter()
    started.append(t0)
    for i, start in enumerate(range(0, len(audio), CHUNK)):
        due = t0 + i * CHUNK / RATE
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            pipe.write(audio[start : start + CHUNK].astype("<i2").tobytes())
            pipe.flush()
        except BrokenPipeError:
            break  # "end exam": the listener has stopped reading
    with contextlib.suppress(BrokenPipeError):
        pipe.close()  # end of input (an "end exam" the recognizer missed must not keep it waiting)


def _latencies(
    results: list[dict[str, Any]], entry: dict[str, Any], t0: float, poller: Poller
) -> list[float]:
    """End of speech (script timeline) → all of the utterance's values visible through the API, in ms."""
    out = []
    for r in results:
        if r["status"] != "applied" or not r["edits"]:
            continue
        spoken = [
            u
            for u in entry["utterances"]
            if r["audio"]["start_s"] < u["end_s"] and u["start_s"] < r["audio"]["speech_end_s"]
        ]
        if not spoken:
            continue
        end_s = min(max(u["end_s"] for u in spoken), r["audio"]["speech_end_s"])
        seen = [poller.visible_at(e) for e in r["edits"]]
        if any(s is None for s in seen):
            continue
        out.append((max(s for s in seen if s is not None) - (t0 + end_s)) * 1000)
    return out


def _wait_for(stream: Any, marker: str, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)
        if marker in line:
            return


def latency(tmp: Path) -> dict[str, Any]:
    sandbox = Sandbox(tmp)
    manifest = load_manifest()
    per_sample: dict[str, list[float]] = {}
    try:
        for n, (sample_id, entry) in enumerate(manifest.items(), start=10):
            pat_num = sandbox.patient_in(n, entry)
            poller = Poller(sandbox.api, pat_num)
            poller.start()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "voicechart.cli",
                    "listen",
                    "--patient",
                    str(pat_num),
                    "--source",
                    "-",
                    "--json",
                ],
                env=sandbox.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=False,
            )
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            err_lines: list[str] = []
            _wait_for((line.decode() for line in proc.stderr), "Listening", err_lines)
            started: list[float] = []
            writer = threading.Thread(
                target=_write_paced, args=(proc.stdin, decode_file(SAMPLES_DIR / entry["audio"]), started)
            )
            writer.start()
            results = [json.loads(line) for line in proc.stdout]
            writer.join()
            proc.wait(timeout=120)
            time.sleep(0.3)
            poller.stop.set()
            poller.join()
            per_sample[sample_id] = _latencies(results, entry, started[0], poller)
            print(
                f"  {sample_id}: {len(per_sample[sample_id])} charted utterances, "
                f"median {statistics.median(per_sample[sample_id]):.0f} ms",
                flush=True,
            )
    finally:
        sandbox.close()
    every = [v for vs in per_sample.values() for v in vs]
    return {"per_sample": per_sample, **_summary(every)}


def _summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = percentile(ordered, 95)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1) if values else None,
        "p95_ms": round(p95, 1),
        "max_ms": round(max(values), 1) if values else None,
    }


def _rss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except OSError:
            return
        time.sleep(0.25)


def concurrency(tmp: Path, n_ops: int) -> dict[str, Any]:
    sandbox = Sandbox(tmp)
    manifest = list(load_manifest().values())
    try:
        ops = []
        for i in range(n_ops):
            entry = manifest[i % len(manifest)]
            op_num = 20 + i
            fifo = tmp / f"op{op_num}.pcm"
            os.mkfifo(fifo)
            ops.append((op_num, entry, sandbox.patient_in(op_num, entry), fifo))
        args = [sys.executable, "-m", "voicechart.cli", "serve", "--json", "--no-feedback"]
        for op_num, _entry, _pat, fifo in ops:
            args += ["--operatory", f"{op_num}={fifo}"]
        proc = subprocess.Popen(
            args, env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stderr is not None
        stop, peak = threading.Event(), [0]
        threading.Thread(target=_rss_sampler, args=(proc.pid, stop, peak), daemon=True).start()
        err_lines: list[str] = []
        for _ in ops:
            _wait_for(proc.stderr, "listening on", err_lines)
        pollers = {op: Poller(sandbox.api, pat) for op, _e, pat, _f in ops}
        for poller in pollers.values():
            poller.start()
        starts: dict[int, list[float]] = {}
        writers = []
        for op_num, entry, _pat, fifo in ops:
            starts[op_num] = []
            pipe = fifo.open("wb")
            writer = threading.Thread(
                target=_write_paced, args=(pipe, decode_file(SAMPLES_DIR / entry["audio"]), starts[op_num])
            )
            writers.append((writer, pipe))
        for writer, _pipe in writers:
            writer.start()
        results: dict[int, list[dict[str, Any]]] = {op: [] for op, *_ in ops}
        for line in proc.stdout:
            item = json.loads(line)
            results[item["operatory"]].append(item)
        for writer, _pipe in writers:
            writer.join()
        proc.wait(timeout=120)
        stop.set()
        time.sleep(0.3)
        every: list[float] = []
        for op_num, entry, _pat, _fifo in ops:
            pollers[op_num].stop.set()
            pollers[op_num].join()
            every += _latencies(results[op_num], entry, starts[op_num][0], pollers[op_num])
    finally:
        sandbox.close()
    return {"operatories": n_ops, "peak_rss_mb": round(peak[0] / 1024, 1), **_summary(every)}


def main() -> None:
    out: dict[str, Any] = {"date": dt.date.today().isoformat(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        print("latency: listen --source - through the API", flush=True)
        out["latency"] = latency(Path(tmp) / "latency")
    runs = []
    for n in CONCURRENCY:
        with tempfile.TemporaryDirectory() as tmp:
            run = concurrency(Path(tmp), n)
            print(
                f"  {n} operatories: median {run['median_ms']} ms, p95 {run['p95_ms']} ms, "
                f"peak RSS {run['peak_rss_mb']} MB ({run['n']} utterances)",
                flush=True,
            )
            runs.append(run)
    out["concurrency"] = runs
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "live.json").write_text(json.dumps(out, indent=2) + "\n")
    lat = out["latency"]
    lines = [
        "# Live latency, concurrency and memory (`scripts/dev bench live`)",
        "",
        f"{out['date']}, {out['cpus']} CPUs. End of speech (script timeline) → the utterance's values "
        "visible through GET /periomeasures, polled every 40 ms from another process.",
        "",
        f"**One operatory, `listen --source -`:** median **{lat['median_ms']} ms**, "
        f"p95 **{lat['p95_ms']} ms**, "
        f"max {lat['max_ms']} ms over {lat['n']} charted utterances (six sample exams).",
        "",
        "| operatories at once | utterances | median ms | p95 ms | peak RSS of the process |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['operatories']} | {run['n']} | {run['median_ms']} | {run['p95_ms']} "
            f"| {run['peak_rss_mb']} MB |"
        )
    (RESULTS / "live.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
