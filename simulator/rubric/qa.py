"""Scoring whole transcripts (real-call QA): the same rubric and scorer as role-play."""

from __future__ import annotations

from ..debtor.proposals import find_instalments
from .scorecard import Scorecard, build_scorecard
from .scorer import TurnScore
from .service import TurnScorer
from .transcripts import Transcript


def infer_outcome(scorer: TurnScorer, turns: list[tuple[str, str]], scores: dict[int, TurnScore]) -> str:
    """A transcript's outcome when it does not say: agreement after a dated proposal, dispute, callback…"""
    s = scorer.scorer
    last_offer = None
    outcome = "NO_COMMITMENT"
    for i, (speaker, text) in enumerate(turns):
        if speaker == "agent":
            score = scores[i]
            fired = {e.indicator for e in score.evidence}
            if {"amount", "date"} & fired or score.stage in ("proposal", "commitment"):
                last_offer = i
            if score.flags.dispute_logged:
                outcome = "DISPUTE"
            elif score.flags.callback and outcome == "NO_COMMITMENT":
                outcome = "CALLBACK"
            continue
        cues = set(s.debtor_cues(text))
        if "hang_up" in cues and i >= len(turns) - 2 and outcome not in ("PTP", "PLAN"):
            return "HUNG_UP"
        if "agreement" in cues and last_offer is not None and outcome != "DISPUTE":
            plan = find_instalments(turns[last_offer][1]) or find_instalments(text)
            outcome = "PLAN" if plan else "PTP"
    return outcome


async def score_transcript(scorer: TurnScorer, transcript: Transcript) -> tuple[dict[int, TurnScore], Scorecard]:
    session = scorer.session(segment=transcript.segment)
    scores: dict[int, TurnScore] = {}
    for i, (speaker, text) in enumerate(transcript.turns):
        if speaker == "debtor":
            session.hear(text)
        else:
            scores[i] = await scorer.score(session, text, transcript.turns[:i])
    outcome = transcript.outcome or infer_outcome(scorer, transcript.turns, scores)
    card = build_scorecard(scorer.rubric, sorted(scores.items()), outcome=outcome, language=scorer.language)
    return scores, card


def transcript_json(transcript: Transcript, scores: dict[int, TurnScore], card: Scorecard) -> dict:
    """The `score --json` line: every turn (agent turns with their verdict) and the scorecard."""
    turns = []
    for i, (speaker, text) in enumerate(transcript.turns):
        item = {"index": i, "speaker": speaker, "text": text}
        if i in scores:
            s = scores[i].to_json()
            item.update({k: s[k] for k in ("scores", "violations", "review", "evidence", "tips", "stage", "judge")})
            item["flags"] = {k: v for k, v in s["flags"].items() if v}
        turns.append(item)
    return {"id": transcript.id, "language": transcript.language, "source": str(transcript.path),
            "rubric": card.rubric_id + "@" + card.rubric_version, "turns": turns, "scorecard": card.to_json()}
