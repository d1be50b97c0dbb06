"""The interpreter: transcript text → commands. Pure and total: no I/O, never raises on any text.

Grammar (DICTATION.md §2; glue words such as "on", "and", "the" may appear between any two parts):

    utterance  := (command)*
    command    := start | end | undo | pause | resume_listening | where_was_i | readback | exam_note
                | correction | skip | tooth_cmd | goto | step | flag | recession | furcation | mobility
                | site_depth | side_depths | depths
    start      := ("start" | "new" | "begin" | "add") exam_word+        exam_word: perio exam chart(ing)
    end        := ("end" | "finish" | "done" | "stop") exam_word+
    undo       := "undo" | ("scratch" | "cancel" | "delete") "that"
    pause      := "pause" | "stop" "listening"
    resume_listening := ("resume" | "start") "listening" | "unpause"
    where_was_i:= "where" "was" "i" | "where" "am" "i" | "resume" ["path"]
    readback   := ("read" "back" | "red" "back" | "readback" | "repeat" "that" | "feedback") ["on" | "off"]
    exam_note  := "exam" "note" TEXT…                  (the rest of the utterance, as recognized)
    correction := ("correction" | "correct") (tooth_cmd | side_depths | depths)
    skip       := "skip" ["this" | "current"] ["tooth" [N]] | "missing" | "skip" N
    tooth_cmd  := ("tooth" | "select" ["tooth"] | "go" "to" ["tooth"]) N target
                  ("missing" | flag | finding | value | depths)?        (nothing → go to that tooth)
    goto       := ("switch" | "go") "to" side | side            step := ("next" | "previous") ["tooth"]
    flag       := ["mark"] ("bleeding" | "suppuration" | "plaque" | "calculus") target
    recession  := ("recession" | "gingival" "margin" | "margin") target (["plus"] value)+ target
    mgj        := ("mgj" | "m" "g" "j" | "mucogingival" ["junction"] | "muco" "gingival" ["junction"])
                  target value+ target
    furcation  := "furcation" target ["grade" | "class"] value target
    mobility   := "mobility" target ["grade" | "class"] value target
    target     := ("tooth" N | "on" N | side | part | "all" | "interproximal")*
    site_depth := [side] part [side] value               ("distal six", "mesial buccal five")
    depths     := value+            values 0–19: digits, words, run-together digits "324", homophones

An utterance that holds anything not understood yields a Rejected for that part; one that holds no command
word and no number at all is chatter (no commands, no rejections). Readings that depend on the chart state
("skip 2" said on tooth 2) are passed on marked as such, for the session to accept or refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from voicechart.dictation.commands import (
    GM_ABOVE_CEJ,
    Command,
    Depths,
    EndExam,
    ExamNote,
    Flag,
    FlagKind,
    Furcation,
    GoTo,
    Interpretation,
    Mobility,
    Mucogingival,
    Pause,
    ReadBack,
    Recession,
    Rejected,
    Resume,
    ResumeListening,
    Side,
    SiteDepth,
    SitePart,
    Skip,
    Span,
    StartExam,
    Step,
    Undo,
)
from voicechart.dictation.guess import guess
from voicechart.dictation.numbering import Numbering, to_universal, valid_range
from voicechart.dictation.tokens import Token, tokenize, word_offsets

MAX_DEPTH = 19
MAX_GRADE = 3
GLUE = frozenset({"and", "on", "the", "at", "of", "then", "is", "with", "a", "uh", "now"})
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
    "tartar": FlagKind.CALCULUS,
}
ROMAN = {"i": 1, "ii": 2, "iii": 3}
START_WORDS = frozenset({"start", "new", "begin", "add"})
END_WORDS = frozenset({"end", "finish", "done", "stop"})
EXAM_WORDS = frozenset({"perio", "exam", "periodontal", "charting", "chart"})
ALL_PARTS = (SitePart.DISTAL, SitePart.MID, SitePart.MESIAL)
READBACK_WORDS = frozenset({"readback", "feedback"})
FINDING_WORDS = frozenset(
    {*FLAG_WORDS, "recession", "gingival", "margin", "furcation", "mobility", "mgj", "m", "mucogingival"}
)
"""Words that start a finding: after a tooth side's depths in the same breath."""
MGJ_WORDS = (("mgj",), ("m", "g", "j"), ("mg", "j"), ("m", "gj"), ("mucogingival",), ("muco", "gingival"))


class _Parser:
    def __init__(self, text: str, words: tuple[str, ...], tokens: Sequence[Token], numbering: Numbering):
        self.text = text
        self.words = words
        self.toks = tokens
        self.numbering: Numbering = numbering
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

    def at(self, *texts: str) -> bool:
        return all(self.peek_text(i) == t for i, t in enumerate(texts))

    def span_from(self, start_pos: int) -> Span:
        first = self.toks[start_pos].index
        last = self.toks[min(max(self.pos - 1, start_pos), len(self.toks) - 1)].index
        return Span(first, last + 1)

    def skip_glue(self) -> None:
        while self.peek_text() in GLUE:
            self.pos += 1

    def reject(self, reason: str, start_pos: int) -> None:
        self.rejected.append(Rejected(reason, self.span_from(start_pos)))

    def emit(self, command: Command) -> None:
        self.commands.append(command)

    # --- entry ---------------------------------------------------------------------------------------------
    def parse(self) -> Interpretation:
        while self.pos < len(self.toks):
            self.skip_glue()
            if self.pos >= len(self.toks):
                break
            self.command()
        self._settle_unknown()
        has_numbers = any(t.is_number for t in self.toks)
        return Interpretation(self.words, tuple(self.commands), tuple(self.rejected), has_numbers)

    def command(self) -> None:
        tok = self.toks[self.pos]
        text = tok.text
        start = self.pos
        if text in START_WORDS and self.peek_text(1) in EXAM_WORDS:
            self.pos += 1
            self._eat(EXAM_WORDS)
            self.emit(StartExam(self.span_from(start)))
        elif text in END_WORDS and self.peek_text(1) in EXAM_WORDS:
            self.pos += 1
            self._eat(EXAM_WORDS)
            self.emit(EndExam(self.span_from(start)))
        elif text == "pause" or self.at("stop", "listening"):
            self.pos += 1
            self._eat({"listening"})
            self.emit(Pause(self.span_from(start)))
        elif self.at("resume", "listening") or self.at("start", "listening") or text == "unpause":
            self.pos += 1 if text == "unpause" else 2
            self.emit(ResumeListening(self.span_from(start)))
        elif self.at("where", "was", "i") or self.at("where", "am", "i") or self.at("where", "were", "we"):
            self.pos += 3
            self.emit(Resume(self.span_from(start)))
        elif text == "resume":
            self.pos += 1
            self._eat({"path"})
            self.emit(Resume(self.span_from(start)))
        elif text == "undo" or (text in {"scratch", "cancel", "delete"} and self.peek_text(1) == "that"):
            self.pos += 1 if text == "undo" else 2
            self.emit(Undo(self.span_from(start)))
        elif text in READBACK_WORDS or self.at_read_back() or self.at("repeat", "that"):
            self.readback_command(start)
        elif text == "exam" and self.peek_text(1) in {"note", "notes"}:
            self.exam_note(start)
        elif text in {"correction", "correct"}:
            self.correction(start)
        elif text == "skip":
            self.skip_command()
        elif text == "missing":
            self.pos += 1
            self.emit(Skip(span=self.span_from(start)))
        elif text == "tooth":
            self.pos += 1
            self.tooth_command(start)
        elif text == "select":
            self.pos += 1
            self._eat({"tooth"})
            self.tooth_command(start)
        elif self.at("go", "to") or self.at("switch", "to") or text == "switch":
            self.goto_command(start)
        elif text in {"next", "previous"}:
            self.pos += 1
            self._eat({"tooth"})
            self.emit(Step(1 if text == "next" else -1, self.span_from(start)))
        elif text == "mark" and self.peek_text(1) in FLAG_WORDS:
            self.pos += 2
            self.flag_command(FLAG_WORDS[self.toks[self.pos - 1].text], start, tooth=None)
        elif text in FLAG_WORDS:
            self.pos += 1
            self.flag_command(FLAG_WORDS[text], start, tooth=None)
        elif text in {"recession", "margin", "gm"} or self.at("gingival", "margin"):
            self.pos += 2 if text == "gingival" else 1
            self.recession_command(start, tooth=None, side=None, parts=())
        elif self._mgj_words():
            self.recession_command(start, tooth=None, side=None, parts=(), mgj=True)
        elif text == "furcation":
            self.pos += 1
            self.grade_command("furcation", start, tooth=None, side=None, parts=())
        elif text == "mobility":
            self.pos += 1
            self.grade_command("mobility", start, tooth=None, side=None, parts=())
        elif self._site_depth_follows():
            self.site_depth(start, tooth=None)
        elif text in SIDE_WORDS and self._number_follows(1):
            self.pos += 1
            self.depths_command(start, tooth=None, side=SIDE_WORDS[text])
        elif text in SIDE_WORDS and self.peek(1) is None and not self.commands:
            self.pos += 1  # "lingual" on its own: the other side of this tooth
            self.emit(GoTo(side=SIDE_WORDS[text], span=self.span_from(start)))
        elif self._misheard_tooth():
            self.tooth_command(start)  # "2 14 lingual …" / "to 14 lingual …": "tooth" heard as "two"
        elif tok.is_number or (tok.homophone is not None and self._number_follows(1)):
            self.depths_command(start, tooth=None, side=None)
        else:
            self.unknown.append(tok)
            self.pos += 1

    # --- small rules ---------------------------------------------------------------------------------------
    def _eat(self, words: frozenset[str] | set[str]) -> None:
        while self.peek_text() in words:
            self.pos += 1

    def _number_follows(self, ahead: int) -> bool:
        tok = self.peek(ahead)
        return tok is not None and (
            tok.is_number or (tok.homophone is not None and self._number_follows(ahead + 1))
        )

    def _misheard_tooth(self) -> bool:
        if not self._tooth_heard_as_two():
            return False
        self.pos += 1
        return True

    def _tooth_heard_as_two(self) -> bool:
        """ "2 14 lingual", "to 14 lingual", "2 20 9 lingual" (tooth twenty-nine written as two numbers): a
        tooth and a side named, "tooth" heard as "two"."""
        tok, nxt = self.peek(), self.peek(1)
        if not _sounds_like(tok, 2) or nxt is None or not nxt.is_number:
            return False
        side = self.peek(3) if self._tens_and_unit(1) is not None else self.peek(2)
        return side is not None and side.text in SIDE_WORDS

    def _on_tooth_heard_apart(self, *, as_numbers: bool = True) -> int | None:
        """The tooth of "on tooth 13" as the recognizer splits it: "onto 13", "on to 13", "on 2 13", or
        "on 213" run together; `as_numbers`: also "1 2 13 facial" (not where a finding's values may come
        next: "recession 1, tooth 19 lingual 3 2 4" heard "recession 1 to 19 lingual 3 2 4"). Consumes up
        to the tooth's number and returns it (Universal, or None when it is not a tooth: then nothing is
        consumed)."""
        text, nxt, after = self.peek_text(), self.peek(1), self.peek(2)
        if text == "onto" and nxt is not None and nxt.is_number:
            skip = 1
        elif (as_numbers and self._on_tooth_as_numbers()) or (  # "1 2 13 facial", "on 2 13", "on to 13"
            text == "on" and _sounds_like(nxt, 2) and after is not None and after.is_number
        ):
            skip = 2
        elif text == "on" and nxt is not None and len(nxt.digits) == 3 and nxt.digits[0] == "2":
            tooth = to_universal(int(nxt.digits[1:]), self.numbering)  # "on 230": "on tooth 30"
            if tooth is None or to_universal(int(nxt.digits), self.numbering) is not None:
                return None
            self.pos += 2
            return tooth
        else:
            return None
        number = self.toks[self.pos + skip].number
        assert number is not None
        combined = self._tens_and_unit(skip)  # "onto 20 4 facial"
        tooth = to_universal(combined or number, self.numbering)
        if tooth is None:
            return None
        self.pos += skip + (2 if combined else 1)
        return tooth

    def _on_heard_as_one(self) -> bool:
        """After a finding's values, "1 tooth 7 facial" with nothing to probe after it: "on tooth 7", the
        "on" heard as "one" (a tooth named before its depths starts them instead)."""
        if self.pos == 0 or self.peek_text() != "tooth" or self._starts_depths_on_a_tooth():
            return False
        return _sounds_like(self.toks[self.pos - 1], 1)

    def _on_tooth_as_numbers(self) -> bool:
        """ "1 2 13 facial" after a finding: "on tooth 13 facial", "on" heard as "one" and "tooth" as "two".
        Only where a side follows, or a number that cannot be a depth ends the utterance ("mobility 2 1 2
        25"): otherwise "1 2 3" is a triplet."""
        tooth, after = self.peek(2), self.peek(3)
        if not (_sounds_like(self.peek(), 1) and _sounds_like(self.peek(1), 2)):
            return False
        if tooth is None or tooth.number is None:
            return False
        if after is not None and after.text in SIDE_WORDS:
            return True
        return tooth.number > MAX_DEPTH and after is None

    def _tens_and_unit(self, ahead: int = 0) -> int | None:
        """ "20 4" where a tooth is named ("tooth twenty four", written as two numbers): 24, when what
        follows is not another number (then "20" is the tooth and "4" a depth)."""
        tens, unit, after = self.peek(ahead), self.peek(ahead + 1), self.peek(ahead + 2)
        if tens is None or unit is None or tens.digits not in {"20", "30", "40"} or len(unit.digits) != 1:
            return None
        if unit.number is None or not 1 <= unit.number <= 9 or (after is not None and after.is_number):
            return None
        return int(tens.digits) + unit.number

    def _mgj_words(self) -> bool:
        """ "MGJ", "M G J", "mucogingival junction", "muco gingival junction": consumed if present."""
        for words in MGJ_WORDS:
            if self.at(*words):
                self.pos += len(words)
                self._eat({"junction", "junctions"})
                return True
        return False

    def _site_depth_follows(self) -> bool:
        """[side] part [side] value — a single depth on a named site of the current tooth."""
        i = 0
        seen_part = False
        while (text := self.peek_text(i)) in SIDE_WORDS or text in PART_WORDS:
            seen_part |= text in PART_WORDS
            i += 1
        tok = self.peek(i)
        return seen_part and tok is not None and (tok.is_number or tok.homophone is not None)

    def at_read_back(self) -> bool:
        """ "read back", or its homophone "red back" (read's past tense; the recognizer writes it so)."""
        return self.at("read", "back") or self.at("red", "back")

    def readback_command(self, start: int) -> None:
        self.pos += 1 if self.peek_text() in READBACK_WORDS else 2
        enable: bool | None = None
        if self.peek_text() in {"on", "off"}:
            enable = self.peek_text() == "on"
            self.pos += 1
        self.emit(ReadBack(enable, self.span_from(start)))

    def exam_note(self, start: int) -> None:
        note_word = self.toks[self.pos + 1].index
        offsets = word_offsets(self.text)
        if offsets and len(offsets) == len(self.words):
            body = self.text[offsets[note_word][1] :]
        else:
            body = " ".join(self.words[note_word + 1 :])
        body = body.lstrip(" \t:;,.-—").strip()
        self.pos = len(self.toks)
        if not body:
            self.reject("exam note: nothing to write", start)
            return
        self.emit(ExamNote(body, self.span_from(start)))

    def correction(self, start: int) -> None:
        self.pos += 1
        self.skip_glue()
        before = len(self.commands)
        if self.pos >= len(self.toks):
            self.reject("correction of what?", start)
            return
        self.command()
        added = self.commands[before:]
        if len(added) == 1 and isinstance(added[0], Depths | SiteDepth):
            command = added[0]
            if isinstance(command, Depths):
                command = replace(command, correction=True)
            self.commands[before] = replace(command, span=self.span_from(start))
        elif not self.rejected:
            del self.commands[before:]
            self.reject("a correction needs the values", start)

    def skip_command(self) -> None:
        start = self.pos
        self.pos += 1
        self._eat({"this", "current", "that"})
        if self.peek_text() == "tooth":
            self.pos += 1
            tooth = self._tooth_number(start)
            if tooth is False:
                return
            self.emit(Skip(tooth=tooth or None, span=self.span_from(start)))
            return
        nxt = self.peek()
        if nxt is not None and (nxt.number == 2 or nxt.homophone == 2) and nxt.digits in {"", "2"}:
            self.pos += 1  # "skip 2" / "skip to": "skip tooth" or "skip tooth 2"?
            tooth = to_universal(2, self.numbering)
            if tooth is None:  # FDI has no tooth 2: it was "skip tooth"
                self.emit(Skip(span=self.span_from(start)))
            else:
                self.emit(Skip(tooth=tooth, tooth_heard_as_number=True, span=self.span_from(start)))
            return
        if nxt is not None and nxt.is_number:
            self.pos += 1
            self.reject("say 'skip tooth' and the number", start)
            return
        self.emit(Skip(span=self.span_from(start)))

    def _tooth_number(self, start: int) -> int | bool | None:
        """The tooth at the cursor as Universal: None if absent, False if not a tooth (rejected here)."""
        tok = self.peek()
        if tok is None or not tok.is_number:
            return None
        assert tok.number is not None
        spoken = tok.number
        if (combined := self._tens_and_unit()) is not None:  # "tooth 20 4 lingual"
            spoken = combined
            self.pos += 1
        self.pos += 1
        nxt = self.peek()
        if (  # FDI read digit by digit: "tooth one four"
            self.numbering == "fdi"
            and 1 <= spoken <= 4
            and nxt is not None
            and nxt.number is not None
            and 1 <= nxt.number <= 8
            and len(nxt.digits) <= 1
        ):
            spoken = spoken * 10 + nxt.number
            self.pos += 1
        tooth = to_universal(spoken, self.numbering)
        if tooth is None:
            self.reject(f"tooth {spoken} is not a tooth ({valid_range(self.numbering)})", start)
            return False
        return tooth

    def _run_together_tooth(self, start: int) -> tuple[int, list[int]] | None:
        """ "tooth 14223": the tooth and its depths run together. Read it only where exactly one split
        leaves whole tooth sides (a multiple of three depths)."""
        tok = self.peek()
        if tok is None or len(tok.digits) < 3:
            return None
        following = 0
        ahead = 1
        while (nxt := self.peek(ahead)) is not None and nxt.is_number:
            following += len(split_depths(nxt))
            ahead += 1
        widths = (2,) if self.numbering == "fdi" else (1, 2)
        readings = []
        for width in widths:
            tooth = to_universal(int(tok.digits[:width]), self.numbering)
            values = [int(d) for d in tok.digits[width:]]
            if tooth is not None and (len(values) + following) % 3 == 0:
                readings.append((tooth, values))
        if len(readings) != 1:
            return None
        self.pos += 1
        return readings[0]

    # --- tooth commands ------------------------------------------------------------------------------------
    def _starts_depths_on_a_tooth(self) -> bool:
        """ "calculus distal, tooth 2 3 …": that tooth starts the depths after it, not the finding."""
        ahead = 1
        while (tok := self.peek(ahead)) is not None and tok.is_number:
            ahead += 1
        numbers = ahead - 1 - (1 if self._tens_and_unit(1) is not None else 0)  # "20 4": one number
        return numbers > 1 or (self.peek_text(ahead) in SIDE_WORDS and self._number_follows(ahead + 1))

    def _count_values(self) -> int:
        """How many depth values the number tokens from the cursor on hold (without consuming them)."""
        count, ahead = 0, 0
        while (tok := self.peek(ahead)) is not None and tok.is_number:
            count += len(split_depths(tok))
            ahead += 1
        return count

    def tooth_command(self, start: int) -> None:
        previous = self.commands[-1] if self.commands else None
        if (
            self.toks[start].text == "tooth"
            and isinstance(previous, Depths)
            and previous.tooth is None
            and len(previous.values) % 3
            and not self.rejected
        ):
            # "three, tooth 2 3 2 2": no tooth is expected in the middle of a tooth side; "tooth" is
            # probably "two". Neither reading is safe to chart.
            self.pos += 1
            self.reject("a tooth named in the middle of a tooth side: was 'tooth' 'two'?", start)
            return
        run_together = self._run_together_tooth(start)
        if run_together is not None:
            self.depths_command(
                start, tooth=run_together[0], side=None, whole_sides=True, prefix=run_together[1]
            )
            return
        number_start = self.pos
        found = self._tooth_number(start)
        if found is False:
            return
        if found is None:
            self.reject("which tooth?", start)
            if self.peek_text() == "missing":
                self.pos += 1
            return
        tooth = int(found)
        side, parts = self._side_and_parts()
        self.skip_glue()
        nxt = self.peek_text()
        spoken_digits = self.toks[number_start : number_start + 2]
        if (
            self.numbering == "fdi"
            and self.toks[start].text == "tooth"
            and side is None
            and not parts
            and self.pos - number_start == 2
            and all(len(t.digits) <= 1 for t in spoken_digits)
            and (3 + self._count_values()) % 3 == 0
            and nxt not in {"missing", "skip", "skipped"}
        ):
            # "tooth 2 3 [2 1 3]": tooth 23, or "two two three …" with "two" heard as "tooth"? Both parse.
            self.reject("did you say 'tooth' or 'two'? Please repeat with the side", start)
            return
        if nxt in {"missing", "skip", "skipped"}:
            self.pos += 1
            self.emit(Skip(tooth=tooth, span=self.span_from(start)))
        elif nxt == "mark" and self.peek_text(1) in FLAG_WORDS:
            self.pos += 2
            self.flag_command(FLAG_WORDS[self.toks[self.pos - 1].text], start, tooth, side, parts)
        elif nxt in FLAG_WORDS:
            self.pos += 1
            self.flag_command(FLAG_WORDS[nxt], start, tooth, side, parts)
        elif nxt in {"recession", "margin", "gm"} or self.at("gingival", "margin"):
            self.pos += 2 if nxt == "gingival" else 1
            self.recession_command(start, tooth=tooth, side=side, parts=parts)
        elif self._mgj_words():
            self.recession_command(start, tooth=tooth, side=side, parts=parts, mgj=True)
        elif nxt in {"furcation", "mobility"}:
            self.pos += 1
            self.grade_command(nxt, start, tooth=tooth, side=side, parts=parts)
        elif parts and self._number_follows(0):
            self.site_depth(start, tooth=tooth, side=side, parts=parts)
        elif self._number_follows(0):
            if side is None and self._tooth_was_two(start, tooth):
                return
            self.depths_command(start, tooth=tooth, side=side, whole_sides=True)
        else:
            part = parts[0] if len(parts) == 1 else None
            self.emit(GoTo(tooth, side, part, self.span_from(start)))

    def _side_and_parts(self) -> tuple[Side | None, tuple[SitePart, ...]]:
        side: Side | None = None
        parts: list[SitePart] = []
        while (text := self.peek_text()) in SIDE_WORDS or text in PART_WORDS:
            if text in SIDE_WORDS:
                side = SIDE_WORDS[text]
            else:
                parts.append(PART_WORDS[text])
            self.pos += 1
        return side, tuple(dict.fromkeys(parts))

    def _tooth_was_two(self, start: int, tooth: int) -> bool:
        """ "two two three" comes out as "Tooth 2 3": where "tooth N" cannot take the depths that follow but
        reading "tooth" as the depth 2 gives whole triplets, that is the only reading that parses. Findings
        may follow in the same breath ("Tooth 3 4. Bleeding mesial." for "two three four, bleeding
        mesial")."""
        tok = self.toks[self.pos - 1]
        if tok.number is None or tok.number > 9:
            return False
        values: list[int] = []
        ahead = 0
        while (nxt := self.peek(ahead)) is not None and nxt.is_number:
            values.extend(split_depths(nxt))
            ahead += 1
        after = self.peek(ahead)
        if self.numbering == "fdi" or (len(values) + 2) % 3 != 0:
            return False
        if after is not None and after.text not in FINDING_WORDS:
            return False
        self.pos += ahead
        self.emit(Depths((2, tok.number, *values), span=self.span_from(start)))
        return True

    def goto_command(self, start: int) -> None:
        self.pos += 1
        self._eat({"to", "the", "other"})
        if self.peek_text() in {"tooth", "select"} or self._number_follows(0):
            self._eat({"tooth", "select"})
            self.tooth_command(start)
            return
        side, parts = self._side_and_parts()
        self._eat({"side", "sides"})
        if side is None and parts:
            self.reject("go to which tooth?", start)
        elif side is None and self.toks[start].text == "switch":
            self.emit(GoTo(span=self.span_from(start)))  # "switch sides": the other side of this tooth
        elif side is None:
            self.reject("go to which tooth?", start)
        else:
            self.emit(GoTo(side=side, span=self.span_from(start)))

    def site_depth(
        self, start: int, *, tooth: int | None, side: Side | None = None, parts: tuple[SitePart, ...] = ()
    ) -> None:
        if not parts:
            more_side, parts = self._side_and_parts()
            side = more_side or side
        values = self._values()
        if values is None:
            self.reject("a depth was expected", start)
        elif len(parts) != 1 or len(values) != 1:
            self.reject("one site, one depth: say e.g. 'distal six'", start)
        elif not 0 <= values[0] <= MAX_DEPTH:
            self.reject(f"depth {values[0]} out of range 0–{MAX_DEPTH}", start)
        else:
            self.emit(SiteDepth(values[0], parts[0], tooth, side, self.span_from(start)))

    def _values(self, *, target_may_follow: bool = False, collected: int = 0) -> list[int] | None:
        """The numbers from the cursor on, as depth-sized values. `target_may_follow`: a finding's values
        (`collected` of them read already), which stop where "on tooth N" heard as numbers begins ("recession
        2 1 2 20 facial") or the next tooth side is named with "tooth" heard as "two" ("recession 1 to 19
        lingual 3 2 4")."""
        values: list[int] = []
        while (tok := self.peek()) is not None:
            have = len(values) + collected
            if target_may_follow and have in {1, 3} and self._on_tooth_as_numbers():
                break  # one value or three: a finding's whole values, then "1 2 13 facial" is "on tooth 13"
            if have and (have % 3 == 0 or target_may_follow) and self._tooth_heard_as_two():
                break  # "3 2 4 2 13 facial", "recession 1 to 19 lingual": "tooth" heard as "two"
            if tok.is_number:
                values.extend(split_depths(tok))
            elif tok.homophone is not None and (values or self._number_follows(1) or self._ends_values(1)):
                values.append(tok.homophone)
            else:
                break
            self.pos += 1
        return values or None

    def _ends_values(self, ahead: int) -> bool:
        """A homophone at the end of the values: 'distal for' = distal 4 (nothing numeric follows)."""
        return self.peek(ahead) is None or self.peek_text(ahead) in GLUE

    def depths_command(
        self,
        start: int,
        *,
        tooth: int | None,
        side: Side | None,
        whole_sides: bool = False,
        prefix: Sequence[int] = (),
    ) -> None:
        values = list(prefix) + (self._values() or [])
        bad = [v for v in values if not 0 <= v <= MAX_DEPTH]
        if bad:
            self.reject(f"depth {bad[0]} out of range 0–{MAX_DEPTH}", start)
        elif not values:
            self.reject("depths were expected", start)
        elif whole_sides and len(values) % 3 != 0:
            self.reject(f"expected three depths per tooth side, heard {len(values)}", start)
        else:
            self.emit(Depths(tuple(values), tooth=tooth, side=side, span=self.span_from(start)))

    # --- findings ------------------------------------------------------------------------------------------
    def _target(
        self,
        tooth: int | None,
        side: Side | None,
        parts: tuple[SitePart, ...],
        start: int,
        *,
        values_next: bool = False,
        values_said: bool = False,
    ) -> tuple[int | None, Side | None, tuple[SitePart, ...]] | None:
        """Where a finding goes: 'on tooth 8', 'on 8', sides, sites, 'all', 'interproximal'. `values_next`:
        the finding's values may come next, so numbers are values first, not "on tooth" heard as "1 2".
        `values_said`: they came before, so "to 19 lingual" with no depths after it is "on tooth 19
        lingual" (with depths after it, "recession 1 to 19 lingual 3 2 4", it names the next side)."""
        found = list(parts)
        first = self.pos
        while True:
            text = self.peek_text()
            nxt = self.peek(1)
            if tooth is None and (heard_apart := self._on_tooth_heard_apart(as_numbers=not values_next)):
                tooth = heard_apart  # "onto 13", "on to 13", "on 2 13": "on tooth 13"
            elif tooth is None and (
                (text == "on" and nxt is not None and nxt.is_number)
                # "recession 1 to 19 lingual": "on tooth 19 lingual", the "on" unheard
                or (values_said and self._tooth_heard_as_two() and not self._number_follows(3))
            ):
                self.pos += 1
                number = self._tooth_number(start)
                if number is False:
                    return None
                tooth = int(number) if number is not None else None
            elif text == "tooth" and tooth is None and not self._starts_depths_on_a_tooth():
                self.pos += 1
                number = self._tooth_number(start)
                if number is False:
                    return None
                if number is None:
                    self.reject("which tooth?", start)
                    return None
                tooth = int(number)
            elif text in {"on", "and", "the", "at", "of", "sites", "site", "surfaces", "surface"}:
                self.pos += 1
            elif text in PART_WORDS:
                found.append(PART_WORDS[text])
                self.pos += 1
            elif text in SIDE_WORDS:
                side = SIDE_WORDS[text]
                self.pos += 1
            elif text in {"all", "everywhere"}:
                found.extend(ALL_PARTS)
                self.pos += 1
            elif text in {"interproximal", "interproximally"}:
                found.extend((SitePart.DISTAL, SitePart.MESIAL))
                self.pos += 1
            else:
                break
        if self.pos > first and self.toks[self.pos - 1].text in {"on", "at", "of"}:
            self.reject("on what? Part of it was not heard", start)  # "bleeding on." — "all" was lost
            return None
        return tooth, side, tuple(dict.fromkeys(found))

    def flag_command(
        self,
        kind: FlagKind,
        start: int,
        tooth: int | None,
        side: Side | None = None,
        parts: tuple[SitePart, ...] = (),
    ) -> None:
        target = self._target(tooth, side, parts, start)
        if target is not None:
            self.emit(Flag(kind, target[2], tooth=target[0], side=target[1], span=self.span_from(start)))

    def recession_command(
        self,
        start: int,
        *,
        tooth: int | None,
        side: Side | None,
        parts: tuple[SitePart, ...],
        mgj: bool = False,
    ) -> None:
        """Recession / gingival margin values, or (mgj) the mucogingival junction, which has no "plus"."""
        what = "MGJ" if mgj else "recession"
        target = self._target(tooth, side, parts, start, values_next=True)
        if target is None:
            return
        values: list[int] = []
        while True:
            if self.peek_text() == "plus" and self._number_follows(1) and not mgj:
                self.pos += 1
                above = self._values() or []
                if not above or not 1 <= above[0] <= MAX_DEPTH:
                    self.reject("gingival margin above the CEJ: plus 1 to plus 19", start)
                    return
                values.append(GM_ABOVE_CEJ + above[0])
                values.extend(above[1:])
            elif (more := self._values(target_may_follow=True, collected=len(values))) is not None:
                values.extend(more)
            else:
                break
        if len(values) - 1 in {1, 3} and self._on_heard_as_one():
            values.pop()  # "recession 3 2 2 1 tooth 7 facial": "on tooth 7"
        depths_start = self.pos
        following: list[int] = []
        if len(values) not in {1, 3}:
            # "recession 2, 3 2 4": the next triplet in the same breath. One or three values are
            # recession; the rest must be whole tooth sides, and only one split can leave that.
            for keep in (1, 3):
                if len(values) > keep and (len(values) - keep) % 3 == 0:
                    values, following = values[:keep], values[keep:]
                    break
        target = self._target(*target, start, values_said=True) if not following else target
        if target is None:
            return
        tooth, side, parts = target
        top = MAX_DEPTH if mgj else GM_ABOVE_CEJ + MAX_DEPTH  # the MGJ has no "plus"
        bad = [v for v in values if not (0 <= v <= MAX_DEPTH or GM_ABOVE_CEJ < v <= top)]
        if not values:
            self.reject(f"{what}: how many millimetres?", start)
        elif bad:
            self.reject(f"{what} {bad[0]} out of range 0–{MAX_DEPTH}", start)
        elif len(values) == 3 and parts:
            self.reject(f"{what}: three values fill a whole tooth side, without naming sites", start)
        elif len(values) not in {1, 3}:
            self.reject(f"{what}: one value or three per tooth side, heard {len(values)}", start)
        else:
            kind = Mucogingival if mgj else Recession
            self.emit(kind(tuple(values), parts, tooth, side, self.span_from(start)))
            if following:
                self._emit_following_depths(following, depths_start)

    def _emit_following_depths(self, values: list[int], end_pos: int) -> None:
        bad = [v for v in values if not 0 <= v <= MAX_DEPTH]
        if bad:
            self.reject(f"depth {bad[0]} out of range 0–{MAX_DEPTH}", end_pos - 1)
        else:
            last = self.toks[end_pos - 1].index
            self.emit(Depths(tuple(values), span=Span(last, last + 1)))

    def grade_command(
        self,
        what: str,
        start: int,
        *,
        tooth: int | None,
        side: Side | None,
        parts: tuple[SitePart, ...],
    ) -> None:
        target = self._target(tooth, side, parts, start, values_next=True)
        if target is None:
            return
        self._eat({"grade", "class", "degree", "of"})
        grade: int | None = None
        tok = self.peek()
        if tok is not None and tok.text in ROMAN:
            grade = ROMAN[tok.text]
            self.pos += 1
        elif tok is not None and tok.is_number:
            grade = tok.number
            self.pos += 1
        elif tok is not None and tok.homophone is not None:
            grade = tok.homophone
            self.pos += 1
        target = self._target(*target, start)
        if target is None:
            return
        tooth, side, parts = target
        if grade is None:
            self.reject(f"{what}: which grade?", start)
        elif not 0 <= grade <= MAX_GRADE:
            self.reject(f"{what} grade {grade} out of range 0–{MAX_GRADE}", start)
        elif what == "mobility":
            if parts or side:
                self.reject("mobility belongs to the whole tooth", start)
            else:
                self.emit(Mobility(grade, tooth, self.span_from(start)))
        elif len(parts) > 1:
            self.reject("furcation: one site at a time", start)
        else:
            self.emit(Furcation(grade, parts[0] if parts else None, tooth, side, self.span_from(start)))

    # --- leftovers -----------------------------------------------------------------------------------------
    def _settle_unknown(self) -> None:
        if not self.unknown:
            return
        if not self.commands and not self.rejected:
            return  # chatter: nothing addressed to the chart
        first, last = self.unknown[0].index, self.unknown[-1].index
        heard = " ".join(self.words[t.index] for t in self.unknown)
        self.rejected.append(Rejected(f"did not understand “{heard}”", Span(first, last + 1)))


def _sounds_like(tok: Token | None, number: int) -> bool:
    """A word that may be `number` said alone: "2", "two", "to", "too" (not "12" or "twenty")."""
    if tok is None:
        return False
    said = tok.number == number and tok.digits in {"", str(number)}
    return said or tok.homophone == number


def split_depths(tok: Token) -> list[int]:
    """'324' → [3, 2, 4]; '12' → [12]; 'twelve' → [12]; '45' → [4, 5] (no depth above 19)."""
    assert tok.number is not None
    if not tok.digits or len(tok.digits) == 1:
        return [tok.number]
    if len(tok.digits) == 2 and 10 <= tok.number <= MAX_DEPTH:
        return [tok.number]
    return [int(d) for d in tok.digits]


def interpret(text: str, numbering: Numbering = "universal", *, guess_words: bool = True) -> Interpretation:
    """Parse one utterance's transcript. Total: every input yields an Interpretation. Words that were not
    understood are guessed as finding or site words (voicechart.dictation.guess) when that makes the whole
    utterance understood; `guessed` then names them, and what they chart is marked for review
    (`guess_words` False: no guessing, to measure what it gives)."""
    words, tokens = tokenize(text)
    first = _Parser(text, words, tokens, numbering).parse()
    if not first.rejected or not guess_words:
        return first
    unclear = {i for r in first.rejected for i in range(r.span.start, r.span.end)}
    guesses = {t.index: g for t in tokens if t.index in unclear and (g := guess(t.text)) is not None}
    if not guesses:
        return first
    guessed_tokens = [replace(t, text=guesses[t.index]) if t.index in guesses else t for t in tokens]
    second = _Parser(text, words, guessed_tokens, numbering).parse()
    if not second.accepted:
        return first
    return replace(second, guessed=tuple(sorted(guesses.items())))
