"""Note mode: what is dictated between "start note" and "end note" becomes the note's text.

Everything in between is text — numbers stay words or digits as recognized, never chart values. Spoken
commands inside a note: "subjective" / "objective" / "assessment" / "plan" at the start of an utterance open
that SOAP section; "new paragraph"; "period", "comma", "colon" as punctuation; "scratch that" removes the
last sentence; "end note" (or "stop note", "finish note", "close note") ends it. Said on its own, the ways
the recognizer hears "end note" ("and note", "in note", "end of note", "end the note", "and the note") end it
too: a dentist cannot be left stuck in a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SECTIONS = ("subjective", "objective", "assessment", "plan")
START_NOTE = re.compile(
    r"^\W*(?:start|begin|new|open)\s+(?:a\s+)?(?:clinical\s+)?note\b\W*|^\W*clinical\s+note\b\W*", re.I
)
END_NOTE = re.compile(r"\b(?:end|stop|finish|close)\s+(?:the\s+)?note\b\W*$", re.I)
END_NOTE_ALONE = re.compile(r"^\W*(?:and|end|in|an)\s+(?:of\s+)?(?:the\s+)?notes?\W*$", re.I)
"""An utterance that is only "end note" as the recognizer may hear it ("And note.", "In note.")."""
SCRATCH = re.compile(r"^\W*(?:scratch|delete|strike)\s+that\W*$", re.I)
SECTION_AT_START = re.compile(rf"^\W*({'|'.join(SECTIONS)})\b\s*[:,.\-]*\s*", re.I)
SPOKEN_PUNCTUATION = [
    (re.compile(r"\s*\bnew paragraph\b[.,]?\s*", re.I), "\n\n"),
    (re.compile(r"\s*\b(?:full stop|period)\b[.,]?", re.I), "."),
    (re.compile(r"\s*\bcomma\b[.,]?", re.I), ","),
    (re.compile(r"\s*\bcolon\b[.,]?", re.I), ":"),
]
NEW_PARAGRAPH_ONLY = re.compile(r"^\W*new\s+paragraph\W*$", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def starts_note(text: str) -> str | None:
    """If the utterance opens a note, the rest of it (possibly empty); else None."""
    match = START_NOTE.match(text)
    return None if match is None else text[match.end() :]


@dataclass(slots=True)
class NoteComposer:
    """Builds one note from consecutive utterances."""

    sections: dict[str, list[str]] = field(default_factory=dict)  # "" = before any SOAP heading
    order: list[str] = field(default_factory=list)
    current: str = ""
    raw: list[str] = field(default_factory=list)
    ended: bool = False

    def add(self, text: str) -> str:
        """Take one utterance of dictation; returns what to read back ("" when nothing to say)."""
        self.raw.append(text)
        if SCRATCH.match(text):
            removed = self._scratch()
            return "Removed the last sentence" if removed else "Nothing to remove"
        end = END_NOTE.search(text) or END_NOTE_ALONE.match(text)
        if end is not None:
            text = text[: end.start()]
            self.ended = True
        if NEW_PARAGRAPH_ONLY.match(text):
            self.sections.setdefault(self.current, []).append("\n\n")
            if self.current not in self.order:
                self.order.append(self.current)
            return ""
        heading = SECTION_AT_START.match(text)
        if heading is not None:
            self.current = heading.group(1).lower()
            text = text[heading.end() :]
        body = _punctuate(text)
        if body:
            if self.current not in self.sections:
                self.sections[self.current] = []
                self.order.append(self.current)
            self.sections[self.current].append(body)
        if self.ended:
            return "Note ended"
        return f"{self.current.capitalize()}" if heading is not None else ""

    def _scratch(self) -> bool:
        for name in reversed(self.order):
            parts = self.sections[name]
            if not parts:
                continue
            sentences = _SENTENCE_END.split(parts[-1].strip())
            if len(sentences) > 1:
                parts[-1] = " ".join(sentences[:-1])
            else:
                parts.pop()
            return True
        return False

    @property
    def text(self) -> str:
        """The note as it goes to the PMS: one paragraph per SOAP section, in the order dictated."""
        blocks = []
        for name in self.order:
            body = re.sub(r"\s*\n\n\s*", "\n\n", " ".join(p for p in self.sections[name] if p)).strip()
            if not body:
                continue
            blocks.append(f"{name.capitalize()}: {body}" if name else body)
        return "\n\n".join(blocks)

    @property
    def raw_text(self) -> str:
        return "\n".join(self.raw)


def _punctuate(text: str) -> str:
    out = text.strip()
    for pattern, mark in SPOKEN_PUNCTUATION:
        out = pattern.sub(mark, out)
    out = re.sub(r"\s+([.,:;!?])", r"\1", out)
    out = re.sub(r"([.,:;!?]){2,}", r"\1", out)
    out = out.strip()
    if out and out[0].isalpha():
        out = out[0].upper() + out[1:]
    if out and out[-1].isalnum():
        out += "."
    return out
