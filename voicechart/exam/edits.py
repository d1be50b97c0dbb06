"""Chart edits: the domain events an exam session emits, one per changed periomeasure row."""

from __future__ import annotations

from dataclasses import dataclass

from voicechart.pms.records import MeasureRow, SequenceType


@dataclass(frozen=True, slots=True)
class ChartEdit:
    """The (sequence type, tooth) row before and after a change. `after` is the full row, so writing it to
    the PMS is idempotent."""

    sequence_type: SequenceType
    tooth: int
    before: MeasureRow | None
    after: MeasureRow
    flagged: str = ""  # why a person should look at this value, if anything
