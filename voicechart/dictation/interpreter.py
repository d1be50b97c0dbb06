"""The interpreter: transcript text → commands. Pure and total: no I/O, never raises on any text.

Grammar (DICTATION.md §2, the part the walking skeleton covers):

    utterance := (command | glue)*
    command   := start | end | undo | skip | tooth_cmd | side depths | depths | flag
    start     := ("start" | "new" | "begin") ("perio" | "exam" | "periodontal" | "charting")+
    end       := ("end" | "finish" | "done" | "stop") ("perio" | "exam" | "charting")+
    undo      := "undo" | ("scratch" | "cancel" | "delete") "that"
    skip      := "skip" ["this" | "current"] ["tooth" [N]] | "missing" | "skip" N
    tooth_cmd := "tooth" N [side] ("missing" | depths | flag)?
    flag      := ("bleeding" | "suppuration" | "plaque" | "calculus") [sites]
    depths    := value+            values 0–19: digits, words, run-together digits "324", homophones

An utterance that holds anything not understood yields a Rejected for that part; one that holds no command
word and no number at all is chatter (no commands, no rejections).
"""

from __future__ import annotations

from collections.abc import Sequence

from voicechart.dictation.commands import (
    Command,
    Depths,
    EndExam,
    Flag,
    FlagKind,
    Interpretation,
    Rejected,
    Side,
    SitePart,
    Skip,
    Span,
    StartExam,
    Undo,
)
from voicechart.dictation.tokens import Token, tokenize

MAX_DEPTH = 19
GLUE = frozenset({"and", "on", "the", "at", "of", "then", "is", "with", "a", "uh"})
SIDE_WORDS = {"buccal": Side.FACIAL, "facial": Side.FACIAL, "lingual": Side.LINGUAL}
PART_WORDS = {"distal": SitePart.DISTAL, "mesial": SitePart.MESIAL, "mid": SitePart.MID}
FLAG_WORDS = {
    "bleeding": FlagKind.BLEEDING,
    "bleed": FlagKind.BLEEDING,
    "bleeds": FlagKind.BLEEDING,
    "suppuration": FlagKind.SUPPURATION,
    "pus": FlagKind.SUPPURATION,
    "plaque": FlagKind.PLAQUE,
    "calculus": FlagKind.CALCULUS,
}
START_WORDS = frozenset({"start", "new", "begin"})
END_WORDS = frozenset({"end", "finish", "done", "stop"})
EXAM_WORDS = frozenset({"perio", "exam", "periodontal", "charting", "chart"})
ALL_PARTS = (SitePart.DISTAL, SitePart.MID, SitePart.MESIAL)
COMMAND_WORDS = (
    START_WORDS
    | END_WORDS
    | EXAM_WORDS
    | set(SIDE_WORDS)
    | set(PART_WORDS)
    | set(FLAG_WORDS)
    | {"undo", "scratch", "cancel", "skip", "missing", "tooth", "all", "interproximal"}
)


class _Parser:
    def __init__(self, words: tuple[str, ...], tokens: Sequence[Token]) -> None:
        self.words = words
        self.toks = tokens
        self.pos = 0
        self.commands: list[Command] = []
        self.rejected: list[Rejected] = []
        self.unknown: list[Token] = []

    # --- helpers -------------------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.toks[i] if i < len(self.toks) else None

    def peek_text(self, ahead: int = 0) -> str:
        tok = self.peek(ahead)
        return tok.text if tok else ""

    def span_from(self, start_pos: int) -> Span:
        first = self.toks[start_pos].index
        last = self.toks[max(self.pos - 1, start_pos)].index
        return Span(first, last + 1)

    def skip_glue(self) -> None:
        while self.peek_text() in GLUE:
            self.pos += 1

    def reject(self, reason: str, start_pos: int) -> None:
        self.rejected.append(Rejected(reason, self.span_from(start_pos)))

    # --- entry ---------------------------------------------------------------------------------------------
    def parse(self) -> Interpretation:
        while self.pos < len(self.toks):
            self.skip_glue()
            if self.pos >= len(self.toks):
                break
            self.command()
        self._settle_unknown()
        return Interpretation(self.words, tuple(self.commands), tuple(self.rejected))

    def command(self) -> None:
        tok = self.toks[self.pos]
        text = tok.text
        start = self.pos
        if text in START_WORDS and self.peek_text(1) in EXAM_WORDS:
            self.pos += 1
            self._eat_exam_words()
            self.commands.append(StartExam(self.span_from(start)))
        elif text in END_WORDS and self.peek_text(1) in EXAM_WORDS:
            self.pos += 1
            self._eat_exam_words()
            self.commands.append(EndExam(self.span_from(start)))
        elif text == "undo" or (text in {"scratch", "cancel", "delete"} and self.peek_text(1) == "that"):
            self.pos += 1 if text == "undo" else 2
            self.commands.append(Undo(self.span_from(start)))
        elif text == "skip":
            self.skip_command()
        elif text == "missing":
            self.pos += 1
            self.commands.append(Skip(span=self.span_from(start)))
        elif text == "tooth":
            self.tooth_command()
        elif text in FLAG_WORDS:
            self.pos += 1
            self.flag_command(FLAG_WORDS[text], start, tooth=None)
        elif text in SIDE_WORDS and self._number_follows(1):
            self.pos += 1
            self.depths_command(start, tooth=None, side=SIDE_WORDS[text])
        elif self._misheard_tooth():
            self.pos += 1  # "2 14 lingual …" / "to 14 lingual …": "tooth" heard as "two"
            self.tooth_command(already_at_number=True, start=start)
        elif tok.is_number or (tok.homophone is not None and self._number_follows(1)):
            self.depths_command(start, tooth=None, side=None)
        else:
            self.unknown.append(tok)
            self.pos += 1

    # --- rules ---------------------------------------------------------------------------------------------
    def _eat_exam_words(self) -> None:
        while self.peek_text() in EXAM_WORDS:
            self.pos += 1

    def _number_follows(self, ahead: int) -> bool:
        tok = self.peek(ahead)
        return tok is not None and (
            tok.is_number or (tok.homophone is not None and self._number_follows(ahead + 1))
        )

    def _misheard_tooth(self) -> bool:
        tok, nxt, side = self.peek(), self.peek(1), self.peek(2)
        return (
            tok is not None
            and (tok.number == 2 or tok.homophone == 2)
            and tok.digits in {"", "2"}
            and nxt is not None
            and nxt.is_number
            and side is not None
            and side.text in SIDE_WORDS
        )

    def skip_command(self) -> None:
        start = self.pos
        self.pos += 1
        while self.peek_text() in {"this", "current"}:
            self.pos += 1
        if self.peek_text() == "tooth":
            self.pos += 1
            tooth = self._tooth_number()
            if tooth is False:
                self.reject("tooth number out of range 1–32", start)
                return
            self.commands.append(Skip(tooth=tooth, span=self.span_from(start)))
            return
        nxt = self.peek()
        if nxt is not None and (nxt.number == 2 or nxt.homophone == 2) and nxt.digits in {"", "2"}:
            self.pos += 1  # "skip 2" / "skip to": "skip tooth" or "skip tooth 2"?
            self.commands.append(Skip(tooth=2, tooth_heard_as_number=True, span=self.span_from(start)))
            return
        if nxt is not None and nxt.is_number:
            self.reject("say 'skip tooth' and the number", start)
            self.pos += 1
            return
        self.commands.append(Skip(span=self.span_from(start)))

    def _tooth_number(self) -> int | bool | None:
        """The tooth number at the cursor: None if absent, False if present but not a tooth 1–32."""
        tok = self.peek()
        if tok is None or not tok.is_number:
            return None
        self.pos += 1
        assert tok.number is not None
        return tok.number if 1 <= tok.number <= 32 else False

    def tooth_command(self, *, already_at_number: bool = False, start: int | None = None) -> None:
        start = self.pos if start is None else start
        if not already_at_number:
            self.pos += 1
        tooth = self._tooth_number()
        if tooth is None:
            if self.peek_text() == "missing" or not self.peek():
                self.reject("which tooth?", start)
                self.pos += 1 if self.peek() else 0
                return
            self.reject("which tooth?", start)
            return
        if tooth is False:
            self.reject("tooth number out of range 1–32", start)
            return
        assert isinstance(tooth, int)
        side = SIDE_WORDS.get(self.peek_text())
        if side is not None:
            self.pos += 1
        self.skip_glue()
        nxt = self.peek_text()
        if nxt == "missing" or nxt == "skip":
            self.pos += 1
            self.commands.append(Skip(tooth=tooth, span=self.span_from(start)))
        elif nxt in FLAG_WORDS:
            self.pos += 1
            self.flag_command(FLAG_WORDS[nxt], start, tooth=tooth, side=side)
        elif self._number_follows(0):
            if side is None and self._tooth_was_two(start, tooth):
                return
            self.depths_command(start, tooth=tooth, side=side, whole_sides=True)
        else:
            self.reject(f"tooth {tooth}: what about it?", start)

    def _tooth_was_two(self, start: int, tooth: int) -> bool:
        """ "two two three" comes out as "Tooth 2 3": where "tooth N" cannot take the depths that follow but
        reading "tooth" as the depth 2 gives whole triplets, that is the only reading that parses."""
        values: list[int] = []
        ahead = 0
        while (tok := self.peek(ahead)) is not None and tok.is_number:
            values.extend(_split_depths(tok))
            ahead += 1
        if self.peek(ahead) is not None or len(values) % 3 == 0 or (len(values) + 2) % 3 != 0 or tooth > 9:
            return False
        self.pos += ahead
        depths = (2, tooth, *values)
        self.commands.append(Depths(depths, span=self.span_from(start)))
        return True

    def depths_command(
        self, start: int, *, tooth: int | None, side: Side | None, whole_sides: bool = False
    ) -> None:
        values: list[int] = []
        while (tok := self.peek()) is not None:
            if tok.is_number:
                assert tok.number is not None
                values.extend(_split_depths(tok))
            elif tok.homophone is not None and (values or self._number_follows(1)):
                values.append(tok.homophone)
            else:
                break
            self.pos += 1
        bad = [v for v in values if not 0 <= v <= MAX_DEPTH]
        if bad:
            self.reject(f"depth {bad[0]} out of range 0–{MAX_DEPTH}", start)
        elif whole_sides and len(values) % 3 != 0:
            self.reject(f"tooth {tooth}: expected three depths per side, heard {len(values)}", start)
        else:
            self.commands.append(Depths(tuple(values), tooth=tooth, side=side, span=self.span_from(start)))

    def flag_command(
        self, kind: FlagKind, start: int, *, tooth: int | None, side: Side | None = None
    ) -> None:
        parts: list[SitePart] = []
        while True:
            text = self.peek_text()
            if text in {"on", "and", "the", "at"}:
                self.pos += 1
            elif text == "tooth" and tooth is None and self.peek(1) is not None and self.peek(1).is_number:  # type: ignore[union-attr]
                self.pos += 1
                number = self._tooth_number()
                if not isinstance(number, int) or isinstance(number, bool):
                    self.reject("tooth number out of range 1–32", start)
                    return
                tooth = number
            elif text in PART_WORDS:
                parts.append(PART_WORDS[text])
                self.pos += 1
            elif text in SIDE_WORDS:
                side = SIDE_WORDS[text]
                self.pos += 1
            elif text in {"all", "everywhere"}:
                parts.extend(ALL_PARTS)
                self.pos += 1
            elif text == "interproximal":
                parts.extend((SitePart.DISTAL, SitePart.MESIAL))
                self.pos += 1
            else:
                break
        unique = tuple(dict.fromkeys(parts))
        self.commands.append(Flag(kind, unique, tooth=tooth, side=side, span=self.span_from(start)))

    # --- leftovers -----------------------------------------------------------------------------------------
    def _settle_unknown(self) -> None:
        if not self.unknown:
            return
        if not self.commands and not self.rejected:
            return  # chatter: nothing addressed to the chart
        first, last = self.unknown[0].index, self.unknown[-1].index
        heard = " ".join(self.words[t.index] for t in self.unknown)
        self.rejected.append(Rejected(f"did not understand “{heard}”", Span(first, last + 1)))


def _split_depths(tok: Token) -> list[int]:
    """'324' → [3, 2, 4]; '12' → [12]; 'twelve' → [12]; '45' → [4, 5] (no depth above 19)."""
    assert tok.number is not None
    if not tok.digits or len(tok.digits) == 1:
        return [tok.number]
    if len(tok.digits) == 2 and 10 <= tok.number <= MAX_DEPTH:
        return [tok.number]
    return [int(d) for d in tok.digits]


def interpret(text: str) -> Interpretation:
    """Parse one utterance's transcript. Total: every input yields an Interpretation."""
    words, tokens = tokenize(text)
    return _Parser(words, tokens).parse()
