"""Scored calls written straight through the Store, in the shapes the rubric engine stores.

`turns.score_json` per agent turn and `sessions.scorecard_json` per call follow
the interface agreed with the rubric helper; `turns.move_json` is the debtor
engine's `Move.to_dict()`. Used by the store, access, export and browser tests
and by the documentation screenshots.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from simulator.store import Store, StoredTurn
from simulator.users import UserDirectory

DIMS = ("empathy", "firmness", "clarity")

AGENT_LINES = {
    "good": [
        ("Bonjour Madame Lefèvre, Paul Martin du service relance de Rénov'Plus. Je vous appelle au sujet de la facture "
         "F-7781 de 2 350 €.", [("clarity", "facture F-7781 de 2 350 €", "positive", "amount_and_reference")]),
        ("Si je comprends bien, vous mettez de côté pour votre maison et ce paiement tombe mal.",
         [("empathy", "Si je comprends bien", "positive", "reformulation")]),
        ("Pouvez-vous verser 1 500 € vendredi, puis le reste en deux fois ?",
         [("firmness", "verser 1 500 € vendredi", "positive", "amount_and_date"),
          ("clarity", "le reste en deux fois", "positive", "plan")]),
    ],
    "weak": [
        ("Oui bonjour, c'est pour la facture.", [("clarity", "c'est pour la facture", "negative", "vague_purpose")]),
        ("Il faudrait payer quand même.", [("firmness", "Il faudrait", "negative", "no_amount_no_date")]),
        ("Bon, vous pouvez faire un effort ou pas ?", [("empathy", "faire un effort ou pas", "negative", "pressure")]),
    ],
    "critical": [
        ("Bonjour, service recouvrement. Vous devez 2 350 €.", [("clarity", "Vous devez 2 350 €", "positive", "amount")]),
        ("Si vous ne payez pas aujourd'hui, l'huissier passe demain saisir vos meubles.", []),
        ("Alors, vous payez ?", [("firmness", "vous payez", "positive", "direct_ask")]),
    ],
}
DEBTOR_LINES = ["Oui, allô ? C'est à quel sujet ?", "Ah… oui, je sais, j'ai du retard.",
                "C'est compliqué en ce moment, vous savez.", "Bon. Je peux faire un premier versement vendredi."]


@dataclass
class MadeCall:
    id: str
    trainee: str | None
    scenario_id: str
    agent_turns: list[int]


def make_user(store: Store, name: str, role: str = "trainee", teams: list[str] | None = None,
              password: str = "motdepasse-1") -> None:
    UserDirectory(store).add(name, password, role=role, teams=teams or [])


def _score(text: str, quality: str, step: int, evidence: list, rng: random.Random) -> dict:
    base = {"good": 4, "weak": 2, "critical": 2}[quality]
    scores = {d: max(1, min(5, base + rng.choice((-1, 0, 0, 1)))) for d in DIMS}
    ev = []
    for dim, quote, polarity, indicator in evidence:
        start = text.find(quote)
        ev.append({"dimension": dim, "start": start, "end": start + len(quote), "text": quote, "polarity": polarity,
                   "indicator": indicator})
    violations = []
    if "huissier" in text:
        quote = "l'huissier passe demain saisir vos meubles"
        start = text.find(quote)
        violations.append({"rule": "FR-THREAT", "category": "menace", "start": start, "end": start + len(quote),
                           "text": quote, "reference": "Code de la consommation L121-2"})
        scores["empathy"] = 1
    tips = {}
    weakest = min(scores, key=scores.get)
    if scores[weakest] <= 3:
        tips[weakest] = {"empathy": "Reformulez sa situation avant de demander un engagement.",
                         "firmness": "Proposez un montant et une date précis.",
                         "clarity": "Annoncez la facture, le montant et l'objet de l'appel en une phrase."}[weakest]
    return {"rubric": "fr-default@1.0.0", "scores": scores, "evidence": ev, "tips": tips, "violations": violations,
            "stage": ("identify", "discover", "commit")[min(step, 2)]}


def make_call(store: Store, *, trainee: str | None, scenario_id: str = "recalcitrant", quality: str = "good",
              started: datetime | None = None, seed: int = 0, turns: int = 3, finish: bool = True,
              outcome: str | None = None, pass_mark: float = 3.0, mode: str = "practice") -> MadeCall:
    """A scored call: debtor opening, then `turns` agent/debtor pairs, scorecard and outcome when `finish`."""
    rng = random.Random(seed)
    sid = store.create_session(
        scenario_id=scenario_id, scenario_sha256=f"{seed:064x}",
        scenario_json=json.dumps({"id": scenario_id, "title": f"Scénario {scenario_id}", "language": "fr",
                                  "persona": {"name": "Claire Lefèvre"},
                                  "state": {"initial": {"trust": 0.4, "irritation": 0.2, "willingness": 0.3}}}),
        language="fr", backend="scripted", model="scripted", mode=mode, trainee=trainee)
    started = started or datetime.now(timezone.utc)
    with store.engine.begin() as conn:
        from sqlalchemy import text
        conn.execute(text("UPDATE sessions SET started_at = :t WHERE id = :id"),
                     {"t": started.isoformat(timespec="milliseconds"), "id": sid})
    clock = started
    store.add_turn(StoredTurn(sid, 0, "debtor", DEBTOR_LINES[0], clock.isoformat(timespec="milliseconds")))
    lines = AGENT_LINES[quality]
    state = {"trust": 0.4, "irritation": 0.2, "willingness": 0.3}
    agent_idx, scores = [], []
    for i in range(turns):
        text_, evidence = lines[i % len(lines)]
        score = _score(text_, quality, i, evidence, rng)
        scores.append(score)
        delta = (sum(score["scores"].values()) / 3 - 3) / 10
        state = {"trust": round(min(1, max(0, state["trust"] + delta)), 2),
                 "irritation": round(min(1, max(0, state["irritation"] - delta + (0.3 if score["violations"] else 0))), 2),
                 "willingness": round(min(1, max(0, state["willingness"] + delta)), 2)}
        clock += timedelta(seconds=25)
        idx = 1 + 2 * i
        store.add_turn(StoredTurn(sid, idx, "agent", text_, clock.isoformat(timespec="milliseconds"),
                                  move={"beat": "respond", "state": dict(state), "reveal": [], "terms": None,
                                        "outcome": None, "objection": None, "signals": None},
                                  score=score))
        agent_idx.append(idx)
        clock += timedelta(seconds=5)
        store.add_turn(StoredTurn(sid, idx + 1, "debtor", DEBTOR_LINES[1 + i % 3], clock.isoformat(timespec="milliseconds"),
                                  first_token_ms=700, total_ms=2100))
    if finish:
        means = {d: sum(s["scores"][d] for s in scores) / len(scores) for d in DIMS}
        overall = sum(means.values()) / 3
        critical = [{"turn": agent_idx[i], "rule": v["rule"], "category": v["category"], "text": v["text"]}
                    for i, s in enumerate(scores) for v in s["violations"]]
        store.set_rubric(sid, rubric_id="fr-default", rubric_version="1.0.0",
                         rubric_json=json.dumps({"id": "fr-default", "version": "1.0.0"}))
        store.set_scorecard(sid, {"rubric_id": "fr-default", "rubric_version": "1.0.0", "means": means,
                                  "trend": {d: 0.0 for d in DIMS}, "stages_covered": ["identify", "discover", "commit"],
                                  "outcome": outcome, "critical_errors": critical, "overall": round(overall, 2),
                                  "pass_mark": pass_mark, "passed": overall >= pass_mark and not critical,
                                  "turns_scored": len(scores)})
        outcome = outcome or {"good": "PTP", "weak": "NO_COMMITMENT", "critical": "HUNG_UP"}[quality]
        store.end_session(sid, reason="agreement" if outcome in ("PTP", "PLAN") else "agent_ended", outcome=outcome)
        with store.engine.begin() as conn:
            from sqlalchemy import text
            conn.execute(text("UPDATE sessions SET ended_at = :t WHERE id = :id"),
                         {"t": (clock + timedelta(seconds=10)).isoformat(timespec="milliseconds"), "id": sid})
    return MadeCall(sid, trainee, scenario_id, agent_idx)


def make_team(store: Store, *, reviewer_scope_team: str = "nord") -> dict[str, list[MadeCall]]:
    """Two teams, a reviewer, an admin, a trainer, three trainees and some weeks of calls.

    alice improves (weak → good), bruno is stuck (weak), chloe (other team) mixes good calls and a critical error.
    """
    make_user(store, "rita", "reviewer", [reviewer_scope_team])
    make_user(store, "adam", "admin")
    make_user(store, "tom", "trainer", [reviewer_scope_team])
    make_user(store, "alice", "trainee", ["nord"])
    make_user(store, "bruno", "trainee", ["nord"])
    make_user(store, "chloe", "trainee", ["sud"])
    start = datetime(2026, 10, 5, 8, 30, tzinfo=timezone.utc)
    calls: dict[str, list[MadeCall]] = {"alice": [], "bruno": [], "chloe": []}
    plan = {
        "alice": ["weak", "weak", "good", "weak", "good", "good"],
        "bruno": ["weak", "weak", "weak", "weak", "weak"],
        "chloe": ["good", "critical", "good", "good"],
    }
    scenarios = ["recalcitrant", "sous-tension", "difficulte-passagere"]
    for n, (trainee, qualities) in enumerate(plan.items()):
        for i, quality in enumerate(qualities):
            calls[trainee].append(make_call(
                store, trainee=trainee, scenario_id=scenarios[(i + n) % 3], quality=quality,
                started=start + timedelta(days=4 * i + n, hours=n), seed=10 * n + i))
    return calls
