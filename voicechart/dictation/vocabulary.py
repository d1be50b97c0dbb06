"""The words of the charting language (DICTATION.md), for the recognizer.

While charting, Whisper may write only these words, digits and punctuation (voicechart.asr.transcriber
`Vocabulary`): "two three eight" can no longer come out as "Tooth 3 8" for want of a better word, nor
"plaque" as "plant". Words the recognizer is known to write for them (tokens.MISHEARINGS, guess.MISHEARD)
are not in it: with those out of reach it writes the word that was said. An utterance whose reading holds a
word that starts free text (an exam note) is recognized again without the vocabulary.
"""

from __future__ import annotations

from voicechart.dictation.choose import CURSOR_WORDS
from voicechart.dictation.guess import TARGETS
from voicechart.dictation.interpreter import (
    END_WORDS,
    EXAM_WORDS,
    FINDING_WORDS,
    FLAG_WORDS,
    GLUE,
    MGJ_WORDS,
    PART_WORDS,
    READBACK_WORDS,
    ROMAN,
    SIDE_WORDS,
    START_WORDS,
)
from voicechart.dictation.tokens import FILLERS, HOMOPHONES, NUMBER_WORDS, TENS

COMMAND_WORDS = frozenset(
    {
        # "undo", "scratch that", "cancel", "delete", "correction"; "pause", "resume listening", "unpause"
        "undo", "scratch", "that", "cancel", "delete", "correction", "correct", "pause", "resume",
        "listening", "unpause",
        # "where was I", "where are we", "read back", "readback on / off", "repeat"
        "where", "was", "i", "am", "are", "we", "were", "read", "back", "off", "repeat", "say",
        # the path: "skip", "missing", "next", "previous", "go to", "select", "switch to FDI numbering"
        "skip", "skipped", "missing", "next", "previous", "go", "to", "select", "switch", "path", "side",
        "sides", "other", "site", "sites", "surface", "surfaces", "tooth", "teeth", "number", "numbering",
        "universal", "fdi", "yes", "no",
        # findings and measures: "recession plus two", "furcation grade two", "mobility class one",
        # "gingival margin", "mucogingival junction", "interproximal", "all", "whole"
        "plus", "minus", "grade", "class", "degree", "recession", "margin", "gingival", "furcation",
        "mobility", "junction", "junctions", "interproximal", "interproximally", "all", "everywhere",
        "whole", "middle", "gm", "depth", "depths", "values", "mark", "this", "onto", "current",
        # "start perio exam", "exam note …", "start note", "clinical note"
        "clinical", "note", "notes",
    }
)  # fmt: skip
"""Command words of DICTATION.md not in the interpreter's word tables."""

FREE_TEXT_WORDS = frozenset({"note", "notes"})
"""A reading with one of these words goes on in free text ("exam note: patient anxious"): it is recognized
again without the vocabulary."""


def charting_words() -> frozenset[str]:
    """Every word the interpreter understands while charting (lower case)."""
    return frozenset(
        {
            *NUMBER_WORDS,
            *TENS,
            *HOMOPHONES,
            *FILLERS,
            *GLUE,
            *SIDE_WORDS,
            *PART_WORDS,
            *FLAG_WORDS,
            *ROMAN,
            *START_WORDS,
            *END_WORDS,
            *EXAM_WORDS,
            *READBACK_WORDS,
            *FINDING_WORDS,
            *(word for words in MGJ_WORDS for word in words),
            *TARGETS,
            *CURSOR_WORDS,
            *COMMAND_WORDS,
        }
    )
