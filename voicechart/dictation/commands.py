"""What an utterance asks for: commands, each with the span of words it came from, or a typed rejection."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


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
    """Pocket depths from the cursor (or from the first site of the named tooth side), in path order."""

    values: tuple[int, ...]
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
    """Bleeding/suppuration/plaque/calculus on sites. parts=() means the site charted last."""

    kind: FlagKind
    parts: tuple[SitePart, ...] = ()
    tooth: int | None = None
    side: Side | None = None
    span: Span = field(default=NO_SPAN, compare=False)


Command = StartExam | EndExam | Undo | Depths | Skip | Flag


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

    @property
    def is_chatter(self) -> bool:
        """Speech that holds no command at all (talk with the patient): kept as transcript only."""
        return not self.commands and not self.rejected

    @property
    def accepted(self) -> bool:
        return bool(self.commands) and not self.rejected
