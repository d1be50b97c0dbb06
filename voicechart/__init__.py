"""voicechart: a fully local voice-to-PMS pipeline for dental operatories."""

from voicechart.dictation.interpreter import interpret
from voicechart.exam.session import ExamSession

__version__ = "0.1.0"
__all__ = ["ExamSession", "__version__", "interpret"]
