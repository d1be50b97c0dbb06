"""Chart accuracy on the development corpus, and what each recognition lever gives, split by voice.

Stage 1, recognition (slow, cached): every utterance of the corpus (bench/corpus.py) is encoded once by
Whisper and decoded with each prompt configuration, keeping the beam's n best hypotheses and scores, in
`<corpus>/recognized/<model>.jsonl`. The "named" form of an utterance (a hygienist repeating a flagged
utterance with the tooth) is rendered and recognized only when a replay needs it.

Stage 2, replay (fast): each exam's recognized utterances go, in order, through the guards, the choice among
hypotheses and the exam session, exactly as the live pipeline does (a flagged utterance is repeated once,
named). The chart is scored against the exam that was dictated. Levers are switched on one at a time:

    shipped      the prompt before this work, the beam's top hypothesis, the old gates, a lost cursor
    digit-first  a prompt whose examples start with bare triplets (nothing to leak "Tooth" from)
    n-best       the grammar and the chart choose among the beam's 5 hypotheses
    hold         a flagged utterance that was clearly N tooth sides of values holds their place
    ask where    depths said without a tooth while the cursor is lost are refused and the tooth asked for
                 (the repeat with the tooth charts them where they belong) instead of charted and marked
    cursor kept  an unclear utterance with no number-like or cursor-command-like word in any reading leaves
                 the cursor trusted (values after it need no mark for where they go)
    guess        a word not understood that is clearly a misspelt finding or site word ("black mid",
                 "nobility 2") is taken for it when that makes the utterance understood; marked for review
    gates        confidence floors and margins per kind of utterance, calibrated on the dev voices
    unsure       a value whose word was heard below a token-probability floor, or a finding ending as the
                 prompt's does ("… and mesial"), is charted with a review mark
    base-2nd     uncertain utterances recognized again by Whisper base (the note model)

Gates are calibrated on the dev voices only (`bench gates`); every figure that matters is reported on the
test voices, which nothing was tuned on.

    scripts/dev bench recognize [dev|test] [EXAMS]   # stage 1 (cached; resumable)
    scripts/dev bench gates                           # gates on the dev voices -> results/gates.json
    scripts/dev bench levers                          # the lever table -> results/levers.md
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bench.corpus import EXAMS, CorpusExam, corpus_dir, exam_at, exams_of, form_of, said, utterance_audio
from bench.voices import VOICES
from voicechart.accuracy import score_chart
from voicechart.asr.transcriber import Hypothesis, TokenProb, Transcript, WhisperTranscriber
from voicechart.audio.sources import pcm16_to_float
from voicechart.dictation.choose import Choice, choose, may_move_cursor, spoken_sides
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.opinion import OpinionPolicy, weigh, writes_values
from voicechart.dictation.unsure import echo_notes, prompt_echoes, unsure_marks
from voicechart.exam.decide import decide
from voicechart.exam.session import ExamSession
from voicechart.guards import Gates, judge, judge_choice
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.runner import load_transcriber
from voicechart.settings import load_settings
from voicechart.simulate.dictate import answers_which_tooth, chart_of, flagged_cell_keys

RESULTS = Path(__file__).parent / "results"
SHIPPED_PROMPT = (
    "Periodontal charting dictation. Tooth 3 buccal 2 3 2. Tooth 19 lingual 5 4 6. Bleeding on mesial, "
    "distal, buccal, lingual. Furcation grade 1, mobility 2, recession 3, suppuration, missing, skip, next, "
    "go back."
)
OLD_GATES = Gates(depths=-0.45, findings=-0.45, commands=-1.5)
N_BEST = 5
TOKENS_KEPT = ("digit", "vocab")  # configurations whose rows keep each hypothesis' token probabilities
RETRIES = 1
WRONG_COST = 20  # one wrong value without a review mark costs as much as 20 values charted right
REVIEW_COST = 0.5  # a value marked for review, or left blank, costs half a value of someone's time


# --- stage 1: recognition --------------------------------------------------------------------------------
Key = tuple[str, int, bool, str]  # exam id, utterance, named, model


def _digest(exam: CorpusExam, k: int, named: bool, where: bool = False, resume: bool = False) -> str:
    text = said(exam, k, named=named, where=where, resume=resume)
    return hashlib.sha256(f"{exam.id}|{k}|{form_of(named, where, resume)}|{text}".encode()).hexdigest()[:12]


class Recognitions:
    """Cached recognitions: every prompt configuration of one utterance from one encoding."""

    def __init__(self, model: str = "tiny.en", shard: str = "", *, configs: tuple[str, ...] = ()) -> None:
        """`configs`: decode only these prompt configurations (all of the model's when empty); a cached row
        without one of them counts as not recognized."""
        self.model = model
        digit = load_settings().asr.initial_prompt
        self.prompts = {"shipped": SHIPPED_PROMPT, "digit": digit} if model == "tiny.en" else {"digit": digit}
        if "vocab" in configs:  # the same prompt, the decoder held to the charting vocabulary: when asked
            self.prompts["vocab"] = digit
        if configs:
            self.prompts = {name: prompt for name, prompt in self.prompts.items() if name in configs}
        folder = corpus_dir() / "recognized"
        self.path = folder / f"{model}{'.' + shard if shard else ''}.jsonl"
        self.rows: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob(f"{model}.*jsonl")):  # every shard's rows
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    if all(name in row for name in self.prompts) and all(
                        f"{name}_tokens" in row for name in self.prompts if name in TOKENS_KEPT
                    ):
                        self.rows[row["digest"]] = row
        self._transcriber: WhisperTranscriber | None = None

    def transcriber(self) -> WhisperTranscriber:
        if self._transcriber is None:
            settings = load_settings()
            asr = settings.asr.model_copy(update={"model": self.model, "charting_vocabulary": True})
            self._transcriber = load_transcriber(settings.model_copy(update={"asr": asr}))
        return self._transcriber

    def has(self, exam: CorpusExam) -> bool:
        """Whether every utterance of the exam (as first said) is recognized already."""
        return all(_digest(exam, k, False) in self.rows for k in range(len(exam.spoken)))

    def get(
        self, exam: CorpusExam, k: int, named: bool = False, *, where: bool = False, resume: bool = False
    ) -> dict[str, Any]:
        """Utterance `k` as first said, `named` (repeated with the tooth), `where` (its tooth side alone,
        the answer to "which tooth?") or `resume` ("resume listening" said before it again)."""
        digest = _digest(exam, k, named, where, resume)
        row = self.rows.get(digest)
        if row is None:
            row = self._recognize(exam, k, named, where, resume, digest)
            self.rows[digest] = row
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(json.dumps(row) + "\n")
        return row

    def _recognize(
        self, exam: CorpusExam, k: int, named: bool, where: bool, resume: bool, digest: str
    ) -> dict[str, Any]:
        transcriber = self.transcriber()
        audio = pcm16_to_float(utterance_audio(exam, k, named=named, where=where, resume=resume))
        encoded = transcriber.encode(audio)
        out: dict[str, Any] = {"digest": digest, "exam": exam.id, "k": k, "named": named, "where": where}
        if resume:
            out["resume"] = True
        out["encode_s"] = round(encoded.seconds, 4)
        for name, prompt in self.prompts.items():
            started = time.perf_counter()
            n_best = N_BEST if name != "shipped" else 1
            if name == "vocab":
                hypotheses, no_speech = transcriber.decode_charting(
                    encoded, prompt=prompt, n_best=n_best, max_new_tokens=64
                )
            else:
                hypotheses, no_speech = transcriber.decode(
                    encoded, prompt=prompt, n_best=n_best, max_new_tokens=64
                )
            out[name] = [[h.text, round(h.avg_logprob, 4)] for h in hypotheses]
            if name in TOKENS_KEPT:  # token probabilities of the readings that could be charted whole
                hypotheses = [
                    transcriber.with_token_probs(encoded, prompt, h)
                    if not h.tokens and interpret(h.text, exam.numbering).accepted
                    else h
                    for h in hypotheses
                ]
                out[f"{name}_tokens"] = [[[t.end, t.prob] for t in h.tokens] for h in hypotheses]
            out[f"{name}_no_speech"] = round(no_speech, 4)
            out[f"{name}_s"] = round(time.perf_counter() - started, 4)
        return out


def transcript_of(row: dict[str, Any], config: str, *, n_best: bool) -> Transcript:
    tokens = row.get(f"{config}_tokens") or [[] for _ in row[config]]
    hypotheses = sorted(
        (
            Hypothesis(
                t, lp, tuple(TokenProb(end, prob) for end, prob in probs), constrained=config == "vocab"
            )
            for (t, lp), probs in zip(row[config], tokens, strict=True)
        ),
        key=lambda h: -h.avg_logprob,
    )
    hypotheses = hypotheses or [Hypothesis("", -10.0)]
    top = hypotheses[0]
    return Transcript(
        top.text,
        top.avg_logprob,
        row[f"{config}_no_speech"],
        alternatives=tuple(hypotheses) if n_best and len(hypotheses) > 1 else (),
    )


# --- stage 2: replay ---------------------------------------------------------------------------------------
class SecondEarReadings:
    """The second ear's readings (voicechart.asr.second_ear) of the corpus's utterances, cached per version of
    its language model; read as the product reads them (frame by frame, as live), only where Whisper doubts
    values."""

    def __init__(self, shard: str = "") -> None:
        from voicechart.asr.second_ear import MODEL_DIR, SecondEar

        settings = load_settings()
        n_best, frame_ms = settings.asr.n_best, settings.vad.frame_ms  # as the product's ear (runner.py)
        self.ear = SecondEar(n_best, frame_ms=frame_ms)
        model = b"".join((MODEL_DIR / name).read_bytes() for name in ("charting.lm", "charting.dict"))
        sphinx = importlib.metadata.version("pocketsphinx")
        how = f"pocketsphinx {sphinx}, {n_best} best, {frame_ms} ms frames, pcm16"
        version = hashlib.sha256(model + how.encode()).hexdigest()[:8]
        folder = corpus_dir() / "recognized" / f"second_ear-{version}"
        self.path = folder / f"readings{'.' + shard if shard else ''}.jsonl"
        self.rows: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("readings*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[row["digest"]] = row

    def get(
        self, exam: CorpusExam, k: int, named: bool = False, *, where: bool = False, resume: bool = False
    ) -> dict[str, Any]:
        digest = _digest(exam, k, named, where, resume)
        row = self.rows.get(digest)
        if row is None:
            audio = pcm16_to_float(utterance_audio(exam, k, named=named, where=where, resume=resume))
            heard = self.ear.hear(audio)
            row = {
                "digest": digest,
                "digit": [[h.text, h.avg_logprob] for h in heard.hypotheses if h.text],
                "digit_no_speech": 0.0,
                "s": round(heard.seconds, 4),
                "audio_s": round(len(audio) / 16000, 3),
            }
            row["digit_tokens"] = [[] for _ in row["digit"]]
            self.rows[digest] = row
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(json.dumps(row) + "\n")
        return row


@dataclass(frozen=True, slots=True)
class Lever:
    name: str
    config: str = "digit"
    n_best: bool = True
    hold: bool = True
    gates: Gates = OLD_GATES
    second_pass: bool = False
    second_gates: Gates | None = None  # the gates on the second pass's reading (None: the first's)
    cursor_kept: bool = True  # an unclear utterance with nothing cursor-like in it leaves the cursor trusted
    guess: bool = True  # a finding or site word the recognizer misspelt is guessed (and marked)
    ask_where: bool = True  # depths without a tooth while the cursor is lost: refused, the tooth asked for
    echo: bool = False  # a finding that ends as the prompt's ("… and mesial") is marked
    # a second recognizer's reading of the audio, asked where tiny.en is unsure (bench/second_opinion.py):
    opinion_unmarks: bool = False  # values it reads alike lose the marks of words heard unsure
    opinion_accepts: bool = False  # a reading refused as unsure that it reads alike is charted
    opinion_answers: bool = False  # so is a refused answer to "which tooth?" that it reads alike


@dataclass(slots=True)
class ExamResult:
    exam: CorpusExam
    cells: int
    correct: int
    correct_unmarked: int
    wrong_unflagged: int
    wrong_flagged: int
    missing: int
    marked: int  # values written with a review mark
    utterances: int
    flagged_utterances: int
    second_passes: int
    second_accepted: int = 0  # second passes whose reading was taken instead of the first


class Recognize(Protocol):
    def __call__(
        self, exam: CorpusExam, k: int, named: bool = False, *, where: bool = False, resume: bool = False
    ) -> dict[str, Any]: ...


STILL_PAUSED = "still_paused"


def replay(
    exam: CorpusExam,
    lever: Lever,
    recognize: Recognize,
    second: Recognize | None = None,
    *,
    retries: int = RETRIES,
) -> ExamResult:
    """The exam as the pipeline would chart it from these recognitions; a flagged utterance is repeated
    with the tooth named (`retries` times), as the readback asks, or, when the session asked "which
    tooth?" for depths it keeps waiting, answered with the tooth side alone."""
    missing = exam.exam.missing_known
    session = ExamSession(
        path_order=exam.order,
        numbering=exam.numbering,
        rows=[MeasureRow(SequenceType.SKIP_TOOTH, t, tooth_value=1) for t in sorted(missing)],
        ask_where_when_lost=lever.ask_where,
    )
    utterances = flagged = second_passes = second_accepted = 0
    for k in range(len(exam.spoken)):
        truth = interpret(exam.spoken[k].text(), exam.numbering)
        for attempt in range(retries + 1):
            utterances += 1
            where = answers_which_tooth(session, exam.spoken[k], attempt)
            row = recognize(exam, k, attempt > 0, where=where)
            status, used_second, took_second = _one(session, row, lever, exam, k, attempt > 0, where, second)
            second_passes += used_second
            second_accepted += took_second
            if status == STILL_PAUSED:  # told so, she says "resume listening", then the utterance again
                utterances += 1
                said_resume = recognize(exam, k, resume=True)
                _, used_second, took_second = _one(
                    session, said_resume, lever, exam, k, False, False, second, True
                )
                second_passes += used_second
                second_accepted += took_second
            if status == "applied" or truth.is_chatter or session.paused:
                break
            flagged += 1
    score = score_chart(exam.exam.expected_chart(), chart_of(session))
    marked = flagged_cell_keys(session)
    wrong = set(score.wrong_cells)
    return ExamResult(
        exam,
        score.total,
        score.correct,
        score.correct - len(marked - wrong),
        len(wrong - marked),
        len(wrong & marked),
        score.missing,
        len(marked),
        utterances,
        flagged,
        second_passes,
        second_accepted,
    )


def _one(
    session: ExamSession,
    row: dict[str, Any],
    lever: Lever,
    exam: CorpusExam,
    k: int,
    named: bool,
    where: bool,
    second: Recognize | None,
    resume: bool = False,
) -> tuple[str, int, int]:
    """One utterance through the pipeline's steps: its status (STILL_PAUSED: values said while paused, and
    the readback said so), whether the second pass was tried and whether its reading was taken."""
    transcript = transcript_of(row, lever.config, n_best=lever.n_best)
    choice, verdict = _judge(session, transcript, lever, exam)
    used_second = took_second = 0
    if verdict.status == "low_confidence" and lever.second_pass and second is not None:
        used_second = 1
        other_row = second(exam, k, named, where=where, resume=resume)
        other = transcript_of(other_row, lever.config, n_best=lever.n_best)
        other_lever = replace(lever, gates=lever.second_gates or lever.gates)
        other_choice, other_verdict = _judge(session, other, other_lever, exam)
        if other_verdict.status == "ok":
            transcript, choice, verdict = other, other_choice, other_verdict
            took_second = 1
    if verdict.status == "noise":
        return "noise", used_second, took_second
    low = verdict.reason if verdict.status == "low_confidence" else ""
    sides = spoken_sides(transcript) if lever.hold else 0
    moves = may_move_cursor(transcript) if lever.cursor_kept else True
    echoes = _prompt_echoes() if lever.echo else frozenset()
    unsure = {} if low else unsure_marks(transcript, choice, lever.gates.unsure_word, echoes)
    if second is not None and (lever.opinion_accepts or lever.opinion_unmarks):
        policy = OpinionPolicy(accepts=lever.opinion_accepts, unmarks=lever.opinion_unmarks)
        heard = second

        def second_reading() -> Choice:
            other = transcript_of(heard(exam, k, named, where=where, resume=resume), "digit", n_best=True)
            return choose(other, exam.numbering, session.fits, guess_words=lever.guess)

        if lever.opinion_answers and refused_answer(session, choice, low):
            took = answer_read_alike(choice, second_reading)
            low = "" if took else low
            used_second, took_second = used_second + 1, took_second + took
        else:
            weighed = weigh(
                choice,
                low,
                unsure,
                second_reading=second_reading,
                marks_of=lambda: unsure_marks(transcript, choice, lever.gates.unsure_word, echoes),
                echoes=lambda: echo_notes(choice.interpretation, echoes),
                policy=policy,
            )
            low, unsure = weighed.low_confidence, weighed.unsure
            used_second, took_second = used_second + weighed.asked, took_second + weighed.accepted
    decision = decide(
        session,
        choice.interpretation,
        low_confidence=low,
        spoken_sides=sides,
        may_move_cursor=moves,
        unsure=unsure,
    )
    return STILL_PAUSED if decision.says_still_paused else decision.status, used_second, took_second


def refused_answer(session: ExamSession, choice: Choice, low_confidence: str) -> bool:
    """`choice` was refused as unsure and only names the tooth that values refused while the cursor was
    lost wait for (ExamSession.answers): the case of the `opinion_answers` lever."""
    return (
        bool(low_confidence)
        and choice.interpretation.accepted
        and not writes_values(choice)
        and session.answers(choice.interpretation.commands)
    )


def answer_read_alike(choice: Choice, second_reading: Callable[[], Choice]) -> bool:
    """The `opinion_answers` lever, measured and not shipped (README, ninth round): a refused answer to
    "which tooth?" is taken where the second ear reads every command alike. It places the waiting values,
    which are charted unmarked: on a test exam at 10 dB they had been misheard."""
    return second_reading().interpretation.commands == choice.interpretation.commands


@functools.cache
def _prompt_echoes() -> frozenset[tuple[str, ...]]:
    """The endings of the product's prompt's findings (voicechart.dictation.unsure.prompt_echoes)."""
    return prompt_echoes(load_settings().asr.initial_prompt)


def _judge(
    session: ExamSession, transcript: Transcript, lever: Lever, exam: CorpusExam
) -> tuple[Choice, Any]:
    if lever.n_best:
        choice = choose(transcript, exam.numbering, session.fits, guess_words=lever.guess)
        answering = session.answers(choice.interpretation.commands)
        return choice, judge_choice(transcript, choice, lever.gates, answering=answering)
    interpretation = interpret(transcript.text, exam.numbering, guess_words=lever.guess)
    choice = Choice(transcript.hypotheses[0], interpretation, 0, 10.0)
    g = lever.gates
    floor = g.depths if interpretation.has_numbers else g.commands
    return choice, judge(transcript, min_avg_logprob=floor, max_no_speech_prob=g.max_no_speech_prob)


# --- reporting -------------------------------------------------------------------------------------------
def totals(results: Iterable[ExamResult]) -> dict[str, float]:
    t: Counter[str] = Counter()
    for r in results:
        t["exams"] += 1
        t["cells"] += r.cells
        t["correct"] += r.correct
        t["wrong_unflagged"] += r.wrong_unflagged
        t["wrong_flagged"] += r.wrong_flagged
        t["missing"] += r.missing
        t["marked"] += r.marked
        t["utterances"] += r.utterances
        t["flagged_utterances"] += r.flagged_utterances
        t["second_passes"] += r.second_passes
        t["second_accepted"] += r.second_accepted
    cells = t["cells"] or 1
    return {
        **t,
        "accuracy": t["correct"] / cells,
        "wrong_unflagged_rate": t["wrong_unflagged"] / cells,
        "marked_rate": t["marked"] / cells,
        "missing_rate": t["missing"] / cells,
        "utility": t["correct"]
        - WRONG_COST * t["wrong_unflagged"]
        - REVIEW_COST * (t["marked"] + t["missing"]),
    }


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def row_md(label: str, t: dict[str, float]) -> str:
    return (
        f"| {label} | {int(t['exams'])} | {int(t['cells'])} | **{pct(t['accuracy'])}** | "
        f"{int(t['wrong_unflagged'])} ({pct(t['wrong_unflagged_rate'])}) | {int(t['wrong_flagged'])} | "
        f"{int(t['marked'])} ({pct(t['marked_rate'])}) | {int(t['missing'])} | "
        f"{int(t['flagged_utterances'])}/{int(t['utterances'])} |"
    )


HEADER = (
    "| {0} | exams | cells | right | wrong, no mark | wrong, marked | marked | missing "
    "| utterances flagged |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def breakdown(results: list[ExamResult], key: Callable[[ExamResult], str], title: str) -> list[str]:
    groups: dict[str, list[ExamResult]] = defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    lines = [HEADER.format(title)]
    for name in sorted(groups, key=_level_order):
        lines.append(row_md(name, totals(groups[name])))
    return lines


README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench levers: start -->", "<!-- bench levers: end -->"


def write_into_readme(levers: list[str], levels: list[str]) -> None:
    """The lever table and the product's figures by noise level, between the README's markers."""
    text = README.read_text()
    if START not in text or END not in text:
        return
    table = "\n".join([START, "", *levers, "", *levels, "", END])
    README.write_text(text[: text.index(START)] + table + text[text.index(END) + len(END) :])


def _level_order(name: str) -> tuple[int, str]:
    order = {"clean": 0, "20": 1, "15": 2, "10": 3, "5": 4}
    return (order.get(name, 9), name)


# --- entry points ----------------------------------------------------------------------------------------
def _args() -> tuple[str | None, int]:
    args = sys.argv[2:]
    split = args[0] if args and args[0] in ("dev", "test") else None
    numbers = [int(a) for a in args if a.isdigit()]
    return split, numbers[0] if numbers else EXAMS


def selected(split: str | None, count: int) -> list[CorpusExam]:
    """The exams of the split among the first `count`; `levels=clean,15,10` keeps only those noise levels
    (in that order, so the first ones are done first); `exams=7,43,…` picks exams by index instead."""
    levels = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("levels=")), None)
    chosen = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("exams=")), None)
    if chosen is not None:  # `exams=7,43,12`: exactly these exams of the corpus, in this order
        exams = [exam_at(int(i)) for i in chosen]
        return [e for e in exams if split is None or e.split == split]
    exams = list(exams_of(split, count))
    if levels is None:
        return exams
    return sorted((e for e in exams if e.level in levels), key=lambda e: (levels.index(e.level), e.index))


def recognize_main() -> None:
    """Recognize the corpus; `shard=I/N` takes every N-th exam from the I-th (run N of these at once, each
    with VOICECHART_ASR__CPU_THREADS=1, to use every core); `configs=digit,vocab`: only these decodings
    (shipped: the first prompt; digit: the product's prompt; vocab: it, in the charting vocabulary)."""
    split, count = _args()
    shard = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("shard=")), "")
    configs = next((tuple(a.split("=", 1)[1].split(",")) for a in sys.argv if a.startswith("configs=")), ())
    recognitions = Recognitions(shard=shard.replace("/", "of"), configs=configs)
    exams = selected(split, count)
    if shard:
        index, of = (int(x) for x in shard.split("/"))
        exams = exams[index::of]
    started = time.perf_counter()
    done = 0
    for exam in exams:
        for k in range(len(exam.spoken)):
            recognitions.get(exam, k)
            done += 1
        elapsed = time.perf_counter() - started
        print(f"{exam.id}: {done} utterances, {elapsed:.0f} s", flush=True)


def load_gates() -> Gates:
    path = RESULTS / "gates.json"
    if not path.exists():
        return OLD_GATES
    return Gates(**json.loads(path.read_text())["gates"])


def gates_main() -> None:
    """Coordinate search of the gates on the dev voices, maximizing utility (see WRONG_COST), each candidate
    replayed as the product is used (a flagged utterance repeated with the tooth; the repeats' recognitions
    are made on demand and cached). `--no-repeats`: first hearings only. `only=undo_pause_end`: search only
    these gates, once each, the others kept as results/gates.json has them (a new gate calibrated without
    moving the ones already shipped)."""
    _, count = _args()
    config = product_config()
    recognitions = Recognitions(configs=(config,))  # the product's decoding only
    exams = [e for e in selected("dev", count) if "--cached" not in sys.argv or recognitions.has(e)]
    get = recognitions.get
    retries = 0 if "--no-repeats" in sys.argv else RETRIES
    grids = {
        "depths": [round(-1.4 + 0.1 * i, 2) for i in range(13)],
        "depths_margin": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8],
        "findings": [round(-1.4 + 0.1 * i, 2) for i in range(13)],
        "findings_margin": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8],
        "commands": [-1.5, -1.2, -1.0, -0.8, -0.6, -0.4],
        "undo_pause_end": [-1.5, -1.2, -1.0, -0.9, -0.8, -0.6, -0.4],
        "unsure_word": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5],
    }
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("only=")), None)
    gates, history, rounds = OLD_GATES, [], 2
    if only is not None:
        grids = {name: grids[name] for name in only}
        gates, rounds = load_gates(), 1
        history = json.loads((RESULTS / "gates.json").read_text())["search"]
    for _round in range(rounds):
        for name, grid in grids.items():
            scored = []
            for value in grid:
                candidate = replace(gates, **{name: value})
                # as the product is used: a flagged utterance repeated with the tooth (what a refusal costs
                # depends on the repeat); `--no-repeats`: the first hearings alone
                t = totals(
                    replay(e, Lever("gates", config=config, gates=candidate, echo=True), get, retries=retries)
                    for e in exams
                )
                scored.append((t["utility"], value, t))
            # among equal utilities, the fewest refused utterances (each costs the hygienist a repeat, which
            # the utility does not count), then the strictest value
            best = max(scored, key=lambda s: (s[0], -s[2]["flagged_utterances"], -abs(s[1])))
            gates = replace(gates, **{name: best[1]})
            history.append({"gate": name, "value": best[1], "utility": best[0], "alone": only is not None})
            print(f"{name} = {best[1]}: utility {best[0]:.1f}, {pct(best[2]['accuracy'])} right, "
                  f"{int(best[2]['wrong_unflagged'])} wrong without a mark", flush=True)  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    fields = (
        "depths",
        "findings",
        "commands",
        "depths_margin",
        "findings_margin",
        "max_no_speech_prob",
        "undo_pause_end",
        "unsure_word",
    )
    out = {
        "gates": {f: getattr(gates, f) for f in fields},
        "dev_exams": len(exams),
        "repeats": retries,
        "wrong_cost": WRONG_COST,
        "review_cost": REVIEW_COST,
        "search": history,
    }
    (RESULTS / "gates.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["gates"]))


_BEFORE = {"cursor_kept": False, "guess": False, "ask_where": False}
LEVERS = (
    Lever("shipped prompt, top hypothesis", config="shipped", n_best=False, hold=False, **_BEFORE),
    Lever("digit-first prompt, top hypothesis", n_best=False, hold=False, **_BEFORE),
    Lever("+ n-best chosen by grammar and chart", hold=False, **_BEFORE),
    Lever("+ hold the place of an unclear tooth side", **_BEFORE),
    Lever("+ ask for the tooth while the cursor is lost", cursor_kept=False, guess=False),
    Lever("+ cursor kept after an unclear utterance with nothing cursor-like", guess=False),
    Lever("+ misspelt finding and site words guessed (marked)"),
)


def levers_main() -> None:
    """The lever table: each lever as the product is used, a flagged utterance repeated once with the tooth
    (every lever hears the same recordings: each utterance's first hearing and its one repeat; asking for
    the tooth only pays through the repeat), then the product's breakdown on the test voices. `--cached`:
    only the exams already recognized whole (the repeats they need are recognized here); `--no-repeats`:
    first hearings only; `--test-only`: the lever rows on the test voices only."""
    _, count = _args()
    recognitions = Recognitions()
    cached = "--cached" in sys.argv
    gates = load_gates()
    levers = [
        *LEVERS,
        Lever("+ calibrated gates (dev voices)", gates=replace(gates, unsure_word=0.0)),
        Lever("+ values heard unsure and the prompt's ending marked", gates=gates, echo=True),
    ]
    base = Recognitions("base") if "--base" in sys.argv else None
    if base is not None:
        levers.append(
            Lever("+ Whisper base on uncertain utterances", gates=gates, echo=True, second_pass=True)
        )
    lines = ["| lever | split | exams | cells | right | wrong, no mark | wrong, marked | marked | missing | "
             "utterances flagged |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    report: dict[str, Any] = {"levers": {}}
    final: list[ExamResult] = []
    splits = ("test",) if "--test-only" in sys.argv else ("dev", "test")
    retries = 0 if "--no-repeats" in sys.argv else RETRIES
    for lever in levers:
        for split in splits:
            exams = [e for e in selected(split, count) if not cached or recognitions.has(e)]
            results = [
                replay(e, lever, recognitions.get, base.get if base else None, retries=retries) for e in exams
            ]
            t = totals(results)
            report["levers"].setdefault(lever.name, {})[split] = t
            lines.append(f"| {lever.name} | {split} " + row_md("", t)[3:])
            print(lines[-1], flush=True)
    product = levers[-1]
    exams = [e for e in selected("test", count) if not cached or recognitions.has(e)]
    final = [replay(e, product, recognitions.get, base.get if base else None, retries=retries) for e in exams]
    t = totals(final)
    report["product_test"] = t
    lines.append("| **the product: all of the above** | test " + row_md("", t)[3:])
    sections = [
        "## Levers, one at a time, a flagged utterance repeated once with the tooth (dev: tuned on; test: "
        "reported)",
        "",
        *lines,
        "",
        "## Test voices, the product (all levers, repeats), by noise level",
        "",
        *breakdown(final, lambda r: r.exam.level, "level"),
        "",
        "## By voice (test)",
        "",
        *breakdown(final, lambda r: r.exam.voice.id, "voice"),
        "",
        "## By engine (test)",
        "",
        *breakdown(final, lambda r: r.exam.voice.engine, "engine"),
        "",
        "## By noise (test)",
        "",
        *breakdown(final, lambda r: r.exam.noise or "none", "noise"),
        "",
        "## By room / microphone (test)",
        "",
        *breakdown(final, lambda r: r.exam.channel, "channel"),
    ]
    encode = [r["encode_s"] for r in recognitions.rows.values()]
    decode = [r["digit_s"] for r in recognitions.rows.values()]
    if encode:
        sections += [
            "",
            f"Recognition per utterance (tiny.en, {len(encode)} utterances): encode median "
            f"{1000 * statistics.median(encode):.0f} ms, decode (beam 5, 5 hypotheses) median "
            f"{1000 * statistics.median(decode):.0f} ms.",
        ]
    text = "\n".join(sections) + "\n"
    if retries == 0:
        print(text)
        return
    RESULTS.mkdir(exist_ok=True)
    write_into_readme(lines, breakdown(final, lambda r: r.exam.level, "noise level (test voices)"))
    (RESULTS / "levers.md").write_text(text)
    (RESULTS / "levers.json").write_text(json.dumps(report, indent=1) + "\n")
    print(text)


DEV_SPEAKERS = frozenset(v.speaker for v in VOICES if v.split == "dev")
"""The people behind the dev voices: a test voice of one of them is not an unseen speaker."""


def product_config() -> str:
    """The recognitions the product's settings decode: the charting vocabulary's or any words."""
    return "vocab" if load_settings().asr.charting_vocabulary else "digit"


def product_main() -> None:
    """The product as it is used (all levers, the dev-calibrated gates, a flagged utterance repeated once with
    the tooth) on the selected exams, dev and test voices apart, by noise level and by voice, into
    results/product.md and .json. Run at two commits on the same cached recognitions to compare them:

        VOICECHART_CORPUS_DIR=… python -m bench product exams=7,46,… --cached
    """
    _, count = _args()
    config = product_config()
    recognitions = Recognitions(configs=(config,))  # the product's decoding only
    cached = "--cached" in sys.argv
    ear = load_settings().asr.second_ear  # the second ear where Whisper doubts values (dictation.opinion)
    lever = Lever(
        "product",
        config=config,
        gates=load_gates(),
        echo=True,
        opinion_accepts=ear,
        opinion_unmarks=ear,
    )
    second = SecondEarReadings().get if ear else None
    report: dict[str, Any] = {}
    sections: list[str] = []
    for split in ("dev", "test"):
        exams = [e for e in selected(split, count) if not cached or recognitions.has(e)]
        if not exams:
            continue
        first = totals(replay(e, lever, recognitions.get, second, retries=0) for e in exams)
        results = [replay(e, lever, recognitions.get, second, retries=RETRIES) for e in exams]
        repeated = totals(results)
        report[split] = {"first_hearing": first, "repeated": repeated, "exams": [e.id for e in exams]}
        unseen = [r for r in results if r.exam.voice.speaker not in DEV_SPEAKERS]
        rows = [
            row_md("first hearing", first),
            row_md("a flagged utterance repeated with the tooth", repeated),
        ]
        if split == "test" and unseen:  # the split is by voice: kal and slt also speak on the dev side
            report[split]["speakers_not_in_dev"] = totals(unseen)
            rows.append(row_md("repeated, speakers not in the dev voices", totals(unseen)))
        part = [
            f"## {split} voices",
            "",
            HEADER.format("hearing"),
            *rows,
            "",
            *breakdown(results, lambda r: r.exam.level, "level (repeated)"),
            "",
            *breakdown(results, lambda r: r.exam.voice.id, "voice (repeated)"),
            "",
        ]
        print("\n".join(part), flush=True)
        sections += part
    RESULTS.mkdir(exist_ok=True)
    title = "# The product on the corpus (`bench product`)\n\n"
    (RESULTS / "product.md").write_text(title + "\n".join(sections))
    (RESULTS / "product.json").write_text(json.dumps(report, indent=1) + "\n")
