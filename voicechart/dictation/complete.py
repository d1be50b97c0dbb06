"""Is an utterance already a whole command? Decides whether a short pause may end it early (see
voicechart.audio.segmenter): "three two four" may; "three two …", "tooth three …", "bleeding …" may not.

Conservative by design: when in doubt the answer is no, and the utterance simply waits for the full
hang-over, as it would without early ends. A wrong "yes" would split one command into two, so only
commands that nothing can follow are whole: full triplets, one named site, and word-only commands.
Findings said without a tooth ("furcation grade two" … "on tooth three") always wait.
"""

from __future__ import annotations

from voicechart.dictation.commands import (
    Depths,
    EndExam,
    ExamNote,
    Flag,
    Furcation,
    GoTo,
    Interpretation,
    Mobility,
    Mucogingival,
    Pause,
    ReadBack,
    Recession,
    Resume,
    ResumeListening,
    SiteDepth,
    StartExam,
    Step,
    Undo,
)
from voicechart.dictation.tokens import FILLERS

_ALWAYS_WHOLE = (Depths, SiteDepth, Undo, EndExam, StartExam, Step, ReadBack, Resume, Pause, ResumeListening)
_WHOLE_WITH_TOOTH = (Flag, Furcation, Mobility, Recession, Mucogingival)


def is_whole_command(interpretation: Interpretation) -> bool:
    if not interpretation.accepted:
        return False
    commands = interpretation.commands
    if any(isinstance(c, ExamNote) for c in commands):
        return False  # free text: the next words may belong to it
    if any(isinstance(c, Depths) and len(c.values) % 3 for c in commands):
        return False  # a triplet cut short ("three two …")
    last = commands[-1]
    if isinstance(last, GoTo):
        whole = last.side is not None or last.part is not None  # "tooth three" … "buccal"
    elif isinstance(last, _WHOLE_WITH_TOOTH):
        whole = last.tooth is not None and not (
            isinstance(last, Recession | Mucogingival) and len(last.values) not in (1, 3)
        )
    else:
        whole = isinstance(last, _ALWAYS_WHOLE)
    trailing = interpretation.words[last.span.end :]
    return whole and all(word in FILLERS for word in trailing)
