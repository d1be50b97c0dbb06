"""What an utterance asks for: commands, each with the span of words it came from, or a typed rejection.

Tooth numbers in commands are always Universal (1–32); the interpreter converts FDI speech on the way in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Side(Enum):
    FACIAL = "facial"
    LINGUAL = "lingual"


class SitePart(Enum):
    """A site of a tooth side, named the way it is spoken (distal/mid/mesial)."""

    DISTAL = "distal"
    MID = "mid"
    MESIAL = "mesial"


class FlagKind(Enum):
    BLEEDING = "bleeding"
    SUPPURATION = "suppuration"
    PLAQUE = "plaque"
    CALCULUS = "calculus"


@dataclass(frozen=True, slots=True)
class Span:
    """Source words [start, end) of the transcript."""

    start: int
    end: int


NO_SPAN = Span(0, 0)

GM_ABOVE_CEJ = 100
"""Open Dental stores a gingival margin N mm above the CEJ ("plus N") as 100+N (OPENDENTAL.md §3.4)."""


@dataclass(frozen=True, slots=True)
class StartExam:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class EndExam:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Undo:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Depths:
    """Pocket depths from the cursor (or from the first site of the named tooth side), in path order.
    A correction overwrites the named (or last charted) tooth side and leaves the cursor where it was."""

    values: tuple[int, ...]
    tooth: int | None = None
    side: Side | None = None
    correction: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class SiteDepth:
    """One pocket depth on a named site: "tooth three mesial buccal five", "distal six"."""

    value: int
    part: SitePart
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Skip:
    """Mark a tooth skipped (missing) in this exam. `tooth_heard_as_number` is set when "skip 2" may have
    been "skip tooth": the session accepts it only where both readings agree."""

    tooth: int | None = None
    tooth_heard_as_number: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Flag:
    """Bleeding/suppuration/plaque/calculus on sites. parts=() means the site charted last, or all three
    sites when only a side is named ("calculus lingual")."""

    flag: FlagKind
    parts: tuple[SitePart, ...] = ()
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Recession:
    """Gingival margin values, Open Dental's encoding: positive = recession, 100+N = N mm above the CEJ.
    Three values fill the tooth side in probing order; one value goes on the named site, or the mid site."""

    values: tuple[int, ...]
    parts: tuple[SitePart, ...] = ()
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Mucogingival:
    """Mucogingival junction (Open Dental's MGJ row), in mm: three values fill the tooth side in probing
    order; one value goes on the named site, or the mid site. Charted on facial sites and on lower lingual
    sites only (there is no MGJ on the palate)."""

    values: tuple[int, ...]
    parts: tuple[SitePart, ...] = ()
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Furcation:
    """Furcation grade 0–3 on the named site, or the mid site of the tooth side."""

    grade: int
    part: SitePart | None = None
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Mobility:
    """Tooth mobility 0–3 of the named tooth, or of the tooth charted last."""

    grade: int
    tooth: int | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class GoTo:
    """Move the cursor: to a tooth (and side, and site), or to the other side of the current tooth."""

    tooth: int | None = None
    side: Side | None = None
    part: SitePart | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Step:
    """ "next tooth" (+1) / "previous tooth" (-1) along the path."""

    teeth: int
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Resume:
    """ "where was I" / "resume": the cursor goes to the first empty probing site and says where it is; after
    an utterance that was not understood, it says that it does not know (see ExamSession)."""

    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class ReadBack:
    """ "read back" / "repeat that" (enable=None), "readback on" / "readback off"."""

    enable: bool | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Pause:
    """ "pause" / "stop listening": speech is kept as transcript only until ResumeListening."""

    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class ResumeListening:
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class ExamNote:
    """Free text for the perio exam's own note, as it was recognized (case and punctuation kept)."""

    text: str
    span: Span = field(default=NO_SPAN, compare=False)


Command = (
    StartExam
    | EndExam
    | Undo
    | Depths
    | SiteDepth
    | Skip
    | Flag
    | Recession
    | Mucogingival
    | Furcation
    | Mobility
    | GoTo
    | Step
    | Resume
    | ReadBack
    | Pause
    | ResumeListening
    | ExamNote
)
COMMAND_TYPES: dict[str, type[Any]] = {
    t.__name__: t
    for t in (
        StartExam,
        EndExam,
        Undo,
        Depths,
        SiteDepth,
        Skip,
        Flag,
        Recession,
        Mucogingival,
        Furcation,
        Mobility,
        GoTo,
        Step,
        Resume,
        ReadBack,
        Pause,
        ResumeListening,
        ExamNote,
    )
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """Part of an utterance that was not understood; nothing of the utterance may be charted."""

    reason: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Interpretation:
    words: tuple[str, ...]
    commands: tuple[Command, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    has_numbers: bool = False  # a number was heard: the stricter confidence threshold applies
    guessed: tuple[tuple[int, str], ...] = ()  # (word index, finding or site word it was taken for)

    def guessed_notes(self) -> dict[int, str]:
        """For each command (by position) that holds a guessed word: the review mark saying what was heard."""
        notes: dict[int, str] = {}
        for position, command in enumerate(self.commands):
            heard = [
                (self.words[i], word)
                for i, word in self.guessed
                if command.span.start <= i < command.span.end
            ]
            if heard:
                notes[position] = "; ".join(f"heard “{w}”, taken for {word}: check it" for w, word in heard)
        return notes

    @property
    def is_chatter(self) -> bool:
        """Speech that holds no command at all (talk with the patient): kept as transcript only."""
        return not self.commands and not self.rejected

    @property
    def accepted(self) -> bool:
        return bool(self.commands) and not self.rejected


def command_json(cmd: Command) -> dict[str, Any]:
    """A command as plain JSON: its kind and every field that differs from the default (spans left out)."""
    out: dict[str, Any] = {"kind": type(cmd).__name__}
    for f in dataclasses.fields(cmd):
        value = getattr(cmd, f.name)
        if f.name == "span" or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = [v.value if isinstance(v, Enum) else v for v in value]
        out[f.name] = value
    return out


def command_from_json(data: dict[str, Any]) -> Command:
    """The inverse of command_json (golden tables are written in that form)."""
    cls = COMMAND_TYPES[data["kind"]]
    enums = {"side": Side, "part": SitePart, "flag": FlagKind}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name == "kind":
            continue
        if name in enums and value is not None:
            value = enums[name](value)
        elif name == "parts":
            value = tuple(SitePart(v) for v in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    command: Command = cls(**kwargs)
    return command
