"""The development corpus: full-mouth exams spoken by many voices, in operatory noise, rooms and microphones.

Generated offline and deterministically (seeded exams, styles, rates, noise and channels; TTS engines that
render the same text the same way) and cached under the corpus directory (`VOICECHART_CORPUS_DIR`, default
`.data/corpus` in the repository, which git ignores). Nothing here is committed but the recipe.

Each exam is one random full-mouth exam (voicechart.simulate.exams) dictated in a random style
(voicechart.simulate.speech: words, digits, run-together, one to three tooth sides per breath, teeth named
or not, split triplets, fillers, every way to say a missing tooth, bleeding/suppuration/plaque/calculus,
recession and "plus N", furcation, mobility), with chart-neutral interruptions (a wrong triplet and
"scratch that", "where was I", "read back", a pause with chatter), by one voice (bench/voices.py) at a
speaking rate between 0.8 and 1.3, with one noise (scaler, suction, handpiece, background talk) at one
level (clean, 20, 15, 10, 5 dB) through one room or microphone (voicechart.simulate.channels).

Every utterance is its own clip: the speech with 0.3 s before and after (what the segmenter's pre-roll and
hang-over give the recognizer), noise over the whole clip. Its "named" form (the teeth said out loud, as a
hygienist repeats a flagged utterance) is rendered on demand.

    uv run --group samples python -m bench corpus [EXAMS]     # render (piper needs the samples group)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import sys
import wave
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.voices import VOICES, Voice, synthesize
from voicechart.audio.noise import make_noise, mix_at_snr, speech_rms
from voicechart.audio.sources import decode_file
from voicechart.clips import write_clip
from voicechart.dictation.numbering import Numbering
from voicechart.exam.path import PathOrder
from voicechart.settings import SAMPLES_DIR
from voicechart.simulate.channels import acoustic, electrical
from voicechart.simulate.dictate import RESUME_LISTENING
from voicechart.simulate.exams import Exam, random_exam
from voicechart.simulate.speech import Phrase, Spoken, Style, random_style, render_exam

REPO = Path(__file__).resolve().parent.parent
SEED = 20261130
EXAMS = 200
RATE = 16000
PAD_S = 0.3
LEVELS: tuple[str, ...] = ("clean", "20", "15", "10", "5")
NOISES = ("scaler", "suction", "handpiece", "babble")
CHANNEL_WEIGHTS = {"none": 4, "reverb": 1, "headset": 1, "lapel": 1, "phone": 1, "agc": 1, "clipping": 1}
CHATTER = (
    "how are you doing today",
    "just a little pressure here",
    "can you turn your head toward me",
    "you're doing great",
    "we're almost done with this side",
)


def corpus_dir() -> Path:
    return Path(os.environ.get("VOICECHART_CORPUS_DIR") or REPO / ".data" / "corpus")


@dataclass(frozen=True, slots=True)
class CorpusExam:
    index: int
    voice: Voice
    rate: float
    level: str  # "clean" or an SNR in dB
    noise: str  # the noise kind ("" when clean)
    channel: str
    order: PathOrder
    numbering: Numbering
    style: Style
    exam: Exam
    spoken: tuple[Spoken, ...]

    @property
    def id(self) -> str:
        return f"e{self.index:03d}-{self.voice.id}"

    @property
    def split(self) -> str:
        return self.voice.split

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "voice": self.voice.id,
            "engine": self.voice.engine,
            "split": self.split,
            "rate": self.rate,
            "level": self.level,
            "noise": self.noise,
            "channel": self.channel,
            "order": self.order,
            "numbering": self.numbering,
            "utterances": len(self.spoken),
        }


def with_interruptions(spoken: list[Spoken], rng: random.Random) -> list[Spoken]:
    """Chart-neutral things people say in the middle of an exam, at random places."""
    out: list[Spoken] = []
    for utterance in spoken:
        roll = rng.random()
        first = utterance.phrases[0].flowing if utterance.phrases else ""
        is_depths = bool(first) and (first[0].isdigit() or first.split()[0] in _NUMBER_START)
        if is_depths and roll < 0.03:  # a wrong triplet, taken back
            wrong = " ".join(rng.choice(("two", "three", "four", "five")) for _ in range(3))
            out += [Spoken([Phrase(wrong, wrong)]), Spoken([Phrase("scratch that", "scratch that")])]
        elif roll < 0.04:
            out.append(Spoken([Phrase("where was I", "where was I")]))
        elif roll < 0.05 and out:
            out.append(Spoken([Phrase("read back", "read back")]))
        elif roll < 0.06 and out:
            chatter = rng.choice(CHATTER)
            out += [
                Spoken([Phrase("pause", "pause")]),
                Spoken([Phrase(chatter, chatter)]),
                Spoken([Phrase("resume listening", "resume listening")]),
            ]
        out.append(utterance)
    return out


_NUMBER_START = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "um", "uh", "okay"}


def plan(count: int = EXAMS) -> list[CorpusExam]:
    """The corpus's exams, the same on every machine: each voice in turn, every level in turn per voice."""
    return [exam_at(i) for i in range(count)]


@functools.cache
def exam_at(i: int) -> CorpusExam:
    """Exam `i` of the corpus (it does not depend on how many exams are asked for)."""
    rng = random.Random(f"{SEED}:{i}")
    voice = VOICES[i % len(VOICES)]
    level = LEVELS[(i // len(VOICES)) % len(LEVELS)]
    exam = random_exam(rng)
    style = random_style(rng)
    order: PathOrder = rng.choice(("maxillary_first", "facials_first"))
    numbering: Numbering = rng.choice(("universal", "universal", "universal", "fdi"))
    spoken = with_interruptions(render_exam(exam, style, rng, order=order, numbering=numbering), rng)
    return CorpusExam(
        index=i,
        voice=voice,
        rate=round(rng.uniform(0.8, 1.3), 2),
        level=level,
        noise="" if level == "clean" else rng.choice(NOISES),
        channel=rng.choices(list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values()))[0],
        order=order,
        numbering=numbering,
        style=style,
        exam=exam,
        spoken=tuple(spoken),
    )


def _babble_sources() -> list[np.ndarray]:
    return [decode_file(p) for p in sorted(SAMPLES_DIR.glob("*.flac"))]


_BABBLE: list[np.ndarray] = []


def said(exam: CorpusExam, k: int, *, named: bool = False, where: bool = False, resume: bool = False) -> str:
    """What is said for utterance `k`: as first said, "named" (the repeat with the tooth), `where` (the
    answer to "which tooth?": its first depths' tooth side alone) or `resume` ("resume listening", said
    before it again when told that the exam is still paused)."""
    if resume:
        return RESUME_LISTENING
    spoken = exam.spoken[k]
    return speech_text(spoken.where if where else spoken.text(named=named))


def form_of(named: bool, where: bool = False, resume: bool = False) -> str:
    """The name of the form an utterance is said in, as the caches key it ("False" and "True": the first two
    forms' keys as they were)."""
    return "resume" if resume else "where" if where else str(named)


def utterance_audio(
    exam: CorpusExam, k: int, *, named: bool = False, where: bool = False, resume: bool = False
) -> np.ndarray:
    """Utterance `k` of the exam as the recognizer gets it (int16, 16 kHz), rendered once and cached."""
    path = clip_path(exam, k, named=named, where=where, resume=resume)
    if path.exists():
        return read_wav(path)
    text = said(exam, k, named=named, where=where, resume=resume)
    seed = int(hashlib.sha256(f"{exam.id}:{k}:{form_of(named, where, resume)}".encode()).hexdigest()[:8], 16)
    speech = synthesize(exam.voice, text, exam.rate)
    pad = np.zeros(int(PAD_S * RATE), dtype=np.int16)
    speech = acoustic(np.concatenate([pad, speech, pad]), exam.channel, seed=seed)
    if exam.noise:
        if exam.noise == "babble" and not _BABBLE:
            _BABBLE.extend(_babble_sources())
        noise = make_noise(exam.noise, len(speech), seed=seed, babble_sources=_BABBLE or None)
        mixed = mix_at_snr(speech, noise, float(exam.level))
    else:
        mixed = speech
    out = electrical(mixed, exam.channel)
    if speech_rms(out) == 0:
        raise ValueError(f"{exam.id} utterance {k}: the voice rendered silence for {text!r}")
    write_clip(path, out)
    return out


_RUN_OF_DIGITS = re.compile(r"\b\d{3,}\b")


def speech_text(text: str) -> str:
    """What the voice is given to say. "324" is how the recognizer may write "three two four" said
    quickly, not something a hygienist says: a voice would read it "three hundred twenty-four"."""
    return _RUN_OF_DIGITS.sub(lambda m: " ".join(m.group()), text)


def clip_path(
    exam: CorpusExam, k: int, *, named: bool = False, where: bool = False, resume: bool = False
) -> Path:
    text = said(exam, k, named=named, where=where, resume=resume)
    digest = hashlib.sha256(
        f"{text}|{exam.rate}|{exam.level}|{exam.noise}|{exam.channel}".encode()
    ).hexdigest()
    form = "-resume" if resume else "-where" if where else "-named" if named else ""
    return corpus_dir() / "audio" / exam.id / f"{k:03d}{form}-{digest[:8]}.wav"


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)


def _render_exam(index: int) -> str:
    exam = exam_at(index)
    for k in range(len(exam.spoken)):
        utterance_audio(exam, k)
    return exam.id


def exams_of(split: str | None = None, count: int = EXAMS) -> Iterator[CorpusExam]:
    for exam in plan(count):
        if split is None or exam.split == split:
            yield exam


def main() -> None:
    args = sys.argv[2:]
    count = int(args[0]) if args else EXAMS
    exams = plan(count)
    root = corpus_dir()
    root.mkdir(parents=True, exist_ok=True)
    (root / "plan.json").write_text(json.dumps([e.describe() for e in exams], indent=1) + "\n")
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as pool:
        for done, exam_id in enumerate(pool.map(_render_exam, range(count)), 1):
            print(f"[{done}/{count}] {exam_id}", flush=True)
    utterances = sum(len(e.spoken) for e in exams)
    print(f"{count} exams, {utterances} utterances, {len(VOICES)} voices in {root}")


if __name__ == "__main__":
    main()
