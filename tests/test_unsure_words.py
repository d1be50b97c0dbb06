"""A value whose word the recognizer was unsure of is charted with a review mark, not as fact.

Whisper's mean token probability judges a whole utterance; one digit guessed among twenty sure tokens barely
moves it. Each token's own probability (the decoder's, given the prompt) marks the value it belongs to.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.scripted_pipeline import scripted_pipeline, utterance
from voicechart.asr.transcriber import Hypothesis, TokenProb, Transcript
from voicechart.audio.sources import decode_file, pcm16_to_float
from voicechart.dictation.choose import choose
from voicechart.dictation.interpreter import interpret
from voicechart.dictation.tokens import word_offsets
from voicechart.dictation.unsure import (
    echo_notes,
    prompt_echoes,
    unsure_marks,
    unsure_notes,
    unsure_words,
)
from voicechart.exam.decide import decide
from voicechart.exam.resume import JournaledUtterance, replay
from voicechart.exam.session import ExamSession
from voicechart.journal.store import Journal
from voicechart.pipeline import PipelineOptions
from voicechart.pms.records import MeasureRow, SequenceType
from voicechart.pms.sandbox import SandboxConnector

TEXT = "3 2 4. Bleeding distal. 2 2 3."
#        Whisper's tokens: " 3" " 2" " 4" "." " Ble" "eding" " dist" "al" "." " 2" " 2" " 3" "."
PIECES = [" 3", " 2", " 4", ".", " Ble", "eding", " dist", "al", ".", " 2", " 2", " 3", "."]


def hypothesis(probs: list[float], text: str = TEXT, pieces: list[str] = PIECES) -> Hypothesis:
    """The hypothesis with these token probabilities (a token's end offset in the stripped text)."""
    ends, end = [], -1  # the leading space is stripped from the text
    for piece in pieces:
        end += len(piece)
        ends.append(end)
    assert "".join(pieces).strip() == text
    return Hypothesis(text, -0.2, tuple(TokenProb(e, p) for e, p in zip(ends, probs, strict=True)))


SURE = [0.99] * len(PIECES)


def with_prob(index: int, prob: float) -> list[float]:
    probs = list(SURE)
    probs[index] = prob
    return probs


def new_exam() -> ExamSession:
    """Tooth 1 missing: the path starts on tooth 2 facial (distal first: "3 2 4" is DB 3, B 2, MB 4)."""
    return ExamSession(rows=[MeasureRow(SequenceType.SKIP_TOOTH, 1, tooth_value=1)])


def test_each_word_takes_the_least_probability_of_its_tokens() -> None:
    probs = with_prob(5, 0.3)  # "eding" of "Bleeding"
    words = hypothesis(probs).word_probs(word_offsets(TEXT))
    assert words == [0.99, 0.99, 0.99, 0.3, 0.99, 0.99, 0.99, 0.99]
    assert Hypothesis(TEXT, -0.2).word_probs(word_offsets(TEXT)) == [1.0] * 8  # tokens not known: no doubt


def test_the_command_holding_an_unsure_word_is_marked_and_only_it() -> None:
    interpretation = interpret(TEXT)
    assert unsure_words(hypothesis(SURE), interpretation, 0.5) == {}
    notes = unsure_notes(hypothesis(with_prob(10, 0.2)), interpretation, 0.5)  # the second "2" of "2 2 3"
    assert list(notes) == [2] and notes[2] == "heard “2” in “2 2 3” unsure: check it"
    # "distal" guessed: the finding is marked, not the depths
    assert list(unsure_notes(hypothesis(with_prob(6, 0.1)), interpretation, 0.5)) == [1]
    # words that cannot be matched to the interpretation's (tokens of another text): nothing is claimed
    other = Hypothesis("3 2 4", -0.2, (TokenProb(2, 0.1),))
    assert unsure_words(other, interpretation, 0.5) == {}


def test_an_unsure_value_is_charted_marked_and_the_cursor_stays_trusted() -> None:
    session = new_exam()
    interpretation = interpret(TEXT)
    unsure = unsure_notes(hypothesis(with_prob(10, 0.2)), interpretation, 0.5)
    decision = decide(session, interpretation, unsure=unsure)
    assert decision.status == "applied"
    marked = set(session.flagged_sites)
    probing_marked = {(tooth, site) for seq, tooth, site in marked if seq is SequenceType.PROBING}
    assert {tooth for tooth, _ in probing_marked} == {3} and len(probing_marked) == 3  # "2 2 3" only
    notes = {n for ns in session.flagged_sites.values() for n in ns}
    assert notes == {"heard “2” in “2 2 3” unsure: check it"}
    assert session.cursor_trusted  # the value is doubted, not where it went
    decide(session, interpret("4 4 4"))
    assert set(session.flagged_sites) == marked  # what follows is charted as usual


def test_a_later_finding_on_the_same_site_keeps_the_earlier_findings_mark() -> None:
    """Bleeding, suppuration, plaque and calculus share one value per site (bits): adding plaque beside an
    unsure bleeding must not clear the bleeding's mark; a depth said again replaces its value and mark."""
    session = new_exam()
    text, pieces = "3 2 4. Bleeding distal.", PIECES[:9]
    interpretation = interpret(text)
    unsure = unsure_notes(
        hypothesis([0.99, 0.99, 0.99, 0.99, 0.99, 0.1, 0.99, 0.99, 0.99], text, pieces), interpretation, 0.5
    )
    decide(session, interpretation, unsure=unsure)
    (site,) = (k for k in session.flagged_sites if k[0] is SequenceType.BLEED_SUP_PLAQ_CALC)
    mark = session.flagged_sites[site]
    assert decide(session, interpret("plaque distal")).status == "applied"
    assert session.value(*site) != 1  # plaque joined the bleeding on that site
    assert session.flagged_sites[site] == mark
    assert not any(k[0] is SequenceType.PROBING for k in session.flagged_sites)  # depths: heard surely
    assert decide(session, interpret("bleeding distal")).status == "applied"  # said again, heard surely
    assert site not in session.flagged_sites  # the repeat is a new hearing: its old mark goes


def test_marks_are_asked_of_the_recognizer_only_for_a_reading_that_writes_values() -> None:
    asked: list[Hypothesis] = []

    def token_probs(h: Hypothesis) -> Hypothesis:
        asked.append(h)
        return hypothesis(with_prob(0, 0.1))

    transcript = Transcript(
        TEXT, -0.2, 0.01, alternatives=(Hypothesis(TEXT, -0.2),), with_token_probs=token_probs
    )
    choice = choose(transcript)
    assert unsure_marks(transcript, choice, 0.0) == {} and not asked  # switched off
    assert unsure_marks(transcript, choice, 0.5) == {0: "heard “3” in “3 2 4” unsure: check it"}
    assert len(asked) == 1
    nothing_written = Transcript("Next tooth.", -0.2, 0.01, with_token_probs=token_probs)
    assert unsure_marks(nothing_written, choose(nothing_written), 0.5) == {} and len(asked) == 1


def test_whisper_gives_each_token_the_probability_it_decoded_it_with(transcriber: Any) -> None:
    """The token probabilities are the decoder's own (given the domain prompt): with the end-of-text token's,
    they make up the hypothesis' mean log-probability. Holds whatever the CPU recognizes."""
    path = Path(__file__).parents[1] / "samples" / "a-flite-rms.flac"
    audio = pcm16_to_float(decode_file(path)[: 16000 * 8])
    transcript: Transcript = transcriber.transcribe(audio)
    assert transcript.with_token_probs is not None
    for h in transcript.hypotheses[:2]:
        heard = transcript.with_token_probs(h)
        assert heard.text == h.text and len(heard.tokens) == len(h.ids) > 0
        assert all(0.0 < t.prob <= 1.0 for t in heard.tokens)
        assert [t.end for t in heard.tokens] == sorted(t.end for t in heard.tokens)
        assert heard.tokens[-1].end == len(h.text)
        n = len(heard.tokens)
        end_of_text = h.avg_logprob * (n + 1) - sum(math.log(t.prob) for t in heard.tokens)
        assert -6.0 < end_of_text <= 1e-3  # log-probability of the end of text: what is left of the mean
        probs = heard.word_probs(word_offsets(h.text))
        assert len(probs) == len(word_offsets(h.text)) and min(probs) < 1.0
    note = transcriber.transcribe(audio, prompt="Clinical note.")
    assert note.with_token_probs is None  # notes are not charted value by value


def test_a_probability_at_the_floor_is_not_unsure() -> None:
    assert unsure_words(hypothesis(with_prob(0, 0.25)), interpret(TEXT), 0.25) == {}
    assert unsure_words(hypothesis(with_prob(0, 0.2499)), interpret(TEXT), 0.25) == {0: 0.2499}


def test_a_resumed_session_marks_the_unsure_value_again() -> None:
    session = new_exam()
    interpretation = interpret(TEXT)
    unsure = unsure_notes(hypothesis(with_prob(10, 0.2)), interpretation, 0.5)
    decision = decide(session, interpretation, unsure=unsure)
    reason = "; ".join(decision.flags)
    resumed = new_exam()
    replay(resumed, [JournaledUtterance("applied", TEXT, reason)], "universal")
    assert resumed.flagged_sites == session.flagged_sites and resumed.rows == session.rows
    plain = new_exam()
    replay(plain, [JournaledUtterance("applied", TEXT, "")], "universal")
    assert not plain.flagged_sites


PROMPT = "2 2 3, 3 2 4. Bleeding distal and mesial, suppuration mid, plaque all. Skip."


def test_a_finding_that_ends_as_the_prompts_does_is_marked_and_others_are_not() -> None:
    echoes = prompt_echoes(PROMPT)
    assert echoes == {("and", "mesial")}  # "plaque all" and single sites are no ending to copy
    heard = interpret("3 2 4, bleeding distal and mesial, 2 2 3, plaque mid and mesial, suppuration distal")
    notes = echo_notes(heard, echoes)
    assert notes == {
        1: "heard “and mesial” in “bleeding distal and mesial” as the prompt has it: check it",
        3: "heard “and mesial” in “plaque mid and mesial” as the prompt has it: check it",
    }
    assert echo_notes(interpret("bleeding mesial and distal, bleeding distal and mid"), echoes) == {}
    session = new_exam()
    decision = decide(session, heard, unsure=notes)
    assert decision.status == "applied" and session.cursor_trusted
    marked_rows = {(seq, tooth) for seq, tooth, _ in session.flagged_sites}
    assert marked_rows == {(SequenceType.BLEED_SUP_PLAQ_CALC, 2), (SequenceType.BLEED_SUP_PLAQ_CALC, 3)}
    resumed = new_exam()
    said = "3 2 4, bleeding distal and mesial, 2 2 3, plaque mid and mesial, suppuration distal"
    replay(resumed, [JournaledUtterance("applied", said, "; ".join(decision.flags))], "universal")
    assert resumed.flagged_sites == session.flagged_sites


def test_the_live_pipeline_marks_an_unsure_value_in_the_pms(
    sandbox: tuple[SandboxConnector, sa.Engine, Journal], tmp_path: Path
) -> None:
    """The recognizer's token probabilities reach the chart as a review mark on that tooth side's row (the
    journal's edit says why); what was heard surely is charted unmarked."""
    connector, _, journal = sandbox

    class Unsure:
        """Says "Start perio exam", then TEXT with the second "2" of "2 2 3" heard at 0.1."""

        def __init__(self) -> None:
            self.said = [("Start perio exam.", SURE[:4]), (TEXT, with_prob(10, 0.1))]

        def transcribe(self, audio: Any, *, prompt: str | None = None) -> Transcript:
            text, probs = self.said.pop(0)
            pieces = PIECES if text == TEXT else [" Start", " perio", " exam", "."]
            heard = hypothesis(probs, text, pieces)
            plain = Hypothesis(text, -0.2)
            return Transcript(text, -0.2, 0.01, alternatives=(plain,), with_token_probs=lambda _h: heard)

    options = PipelineOptions(
        min_avg_logprob=-0.7, min_avg_logprob_commands=-1.2, max_no_speech_prob=0.6, min_word_prob=0.3
    )
    pipeline = scripted_pipeline(Unsure(), connector, journal, tmp_path, pat_num=3, options=options)
    pipeline.outbox.start()
    results = [pipeline.process(utterance(i)) for i in range(2)]
    assert pipeline.outbox.stop(flush_timeout_s=5) == 0
    assert [r.status for r in results] == ["applied", "applied"]
    assert results[1].flags == ["heard “2” in “2 2 3” unsure: check it"]
    flagged = {(e["tooth"], e["flagged"]) for e in results[1].edits if e["sequence_type"] == "Probing"}
    # patient 3: the path starts at tooth 1 facial; "2 2 3" went to tooth 2, marked with why
    assert flagged == {(1, ""), (2, "heard “2” in “2 2 3” unsure: check it")}


def test_a_reading_too_sure_for_any_token_to_be_below_the_floor_is_not_aligned() -> None:
    asked: list[Hypothesis] = []

    def token_probs(h: Hypothesis) -> Hypothesis:
        asked.append(h)
        return hypothesis(with_prob(0, 0.1))

    ids = tuple(range(len(PIECES)))  # 13 tokens and the end of text: a mean of -0.05 sums to -0.7
    sure = Hypothesis(TEXT, -0.05, ids=ids)
    transcript = Transcript(TEXT, -0.05, 0.01, alternatives=(sure,), with_token_probs=token_probs)
    assert unsure_marks(transcript, choose(transcript), 0.3) == {} and not asked  # log 0.3 = -1.2 < -0.7
    assert unsure_marks(transcript, choose(transcript), 0.6) != {} and len(asked) == 1  # log 0.6 = -0.51
