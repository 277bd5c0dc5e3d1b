"""The engine decides, the LLM speaks.

After each trainee turn the engine moves the debtor's state, decides what the
debtor reveals, accepts, counters or refuses, and whether they hang up; the
model is only asked to voice that move. Deterministic and testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel

from ..difficulty import Tuning, tune
from ..scenario import Level, Scenario
from .cues import detect_cues, discloses_debt
from .proposals import fold
from .signals import TurnSignals
from .state import DebtorState, Outcome, update_state

# Always checked after a scenario's own resolutions (the engine's behaviour before resolutions existed).
BUILT_IN_RESOLUTIONS: tuple[tuple[Outcome, str], ...] = (("DISPUTE", "dispute_logged"), ("CALLBACK", "callback"))
THIRD_PARTY_DISCLOSURE = "third_party_disclosure"

Beat = Literal["respond", "reveal", "accept", "counter", "refuse", "hang_up"]

_MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre"]
_DAYS_FR = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def say_date(d: date, language: str) -> str:
    if language == "fr":
        return f"le {_DAYS_FR[d.weekday()]} {d.day}{'er' if d.day == 1 else ''} {_MONTHS_FR[d.month - 1]}"
    return d.strftime("%A %d %B").replace(" 0", " ")


class Terms(BaseModel):
    """An agreement or a counter-offer."""

    amount: float
    date: date
    instalments: int = 1  # payments for the rest after the first one (1: nothing more)
    total: float

    def describe(self, language: str, currency: str) -> str:
        from .prompt import money

        first = f"{money(self.amount, currency, language)} {say_date(self.date, language)}"
        if self.amount >= self.total - 0.5:
            return first
        if language == "fr":
            rest = f", puis le reste en {self.instalments} fois" if self.instalments > 1 else ", puis le reste le mois suivant"
        else:
            rest = f", then the rest in {self.instalments} instalments" if self.instalments > 1 else ", then the rest the month after"
        return first + rest


@dataclass
class Move:
    beat: Beat
    state: DebtorState
    reveal: list[str] = field(default_factory=list)
    terms: Terms | None = None
    outcome: Outcome | None = None
    objection: str | None = None
    signals: TurnSignals | None = None
    cues: list[str] = field(default_factory=list)  # situational cues read in the turn (see cues.py)
    resolution: Outcome | None = None  # a resolution the call reached on this turn

    @property
    def ends_call(self) -> bool:
        return self.beat in ("accept", "hang_up")

    @property
    def weak_point(self) -> Literal["disclosure", "hostile", "empathy", "firmness"] | None:
        """The most urgent thing to improve in this turn, for the practice-mode tip."""
        s = self.signals
        if s is None:
            return None
        if THIRD_PARTY_DISCLOSURE in s.violations:
            return "disclosure"
        if s.hostile or s.violations:
            return "hostile"
        if s.empathy <= 2:
            return "empathy"
        if s.firmness <= 2 and self.beat in ("respond", "reveal"):
            return "firmness"
        return None

    def to_dict(self) -> dict:
        return {
            "beat": self.beat, "state": self.state.model_dump(), "reveal": self.reveal,
            "terms": self.terms.model_dump(mode="json") if self.terms else None, "outcome": self.outcome,
            "objection": self.objection,
            "signals": self.signals.model_dump(mode="json", exclude={"text"}) if self.signals else None,
            "cues": self.cues, "resolution": self.resolution,
        }


class DebtorEngine:
    def __init__(self, scenario: Scenario, level: Level | None = None):
        self.scenario = scenario
        self.tuning: Tuning = tune(scenario, level)  # the scenario's numbers at the chosen difficulty
        self.state = self.tuning.initial.model_copy()
        self.unlocked: set[int] = set()
        self.agreement: Terms | None = None
        self.outcome: Outcome | None = None
        self.refusals = 0
        self.callback = False
        self.dispute = False
        self.disclosed = False  # the debt was mentioned to a third party
        self.resolved: set[int] = set()  # indexes into self.resolution_rules that fired
        self.moves: list[Move] = []

    @property
    def level(self) -> Level:
        return self.tuning.level

    @property
    def resolution_rules(self) -> list[tuple[Outcome, set[str], object]]:
        """(outcome, cues, thresholds) in the order they are checked: the scenario's, then the built-in ones
        for outcomes the scenario does not define itself."""
        rules = [(r.outcome, set(r.when), th) for r, th in zip(self.scenario.resolutions, self.tuning.resolutions)]
        own = {r.outcome for r in self.scenario.resolutions}
        rules += [(outcome, {cue}, None) for outcome, cue in BUILT_IN_RESOLUTIONS if outcome not in own]
        return rules

    @property
    def call_date(self) -> date:
        return self.scenario.effective_call_date

    def signals(self, text: str) -> TurnSignals:
        """The signals of a turn given without any (a call scores it in context first)."""
        from ..rubric.signals import signals_alone

        return signals_alone(text, self.scenario.language, self.call_date, self.scenario.segment,
                             currency=self.scenario.debt.currency)

    def locked_facts(self) -> list[str]:
        return [f.text for i, f in enumerate(self.scenario.hidden_facts) if i not in self.unlocked]

    def revealed_facts(self) -> list[str]:
        return [f.text for i, f in enumerate(self.scenario.hidden_facts) if i in self.unlocked]

    def _newly_unlocked(self, text: str) -> list[str]:
        asked = fold(text)
        fresh = []
        for i, fact in enumerate(self.scenario.hidden_facts):
            if i in self.unlocked:
                continue
            by_topic = self.state.trust >= self.tuning.topic_trust and any(fold(topic) in asked for topic in fact.topics)
            if self.tuning.unlocks[i].met(self.state) or by_topic:
                self.unlocked.add(i)
                fresh.append(fact.text)
        return fresh

    def _decide_on(self, signals: TurnSignals) -> tuple[Beat, Terms | None]:
        p = signals.proposal
        c = self.scenario.concessions
        total = self.scenario.debt.amount
        max_first = min(c.first_payment_max or total, total)
        latest = self.call_date + timedelta(days=c.latest_date_days)
        if not self.tuning.requires.met(self.state):
            return "refuse", None
        amount = p.amount if p.amount is not None else (total if p.full else None)
        wanted_date = p.date or min(latest, self.call_date + timedelta(days=7))
        rest_instalments = p.instalments or (c.instalments_max if amount is not None and amount < total else 1)
        ok_amount = amount is None or amount <= max_first + 0.5
        ok_date = p.date is None or p.date <= latest
        ok_inst = rest_instalments <= c.instalments_max
        if amount is None and p.instalments:  # "en trois fois": equal instalments, the first one now
            amount = round(total / p.instalments, 2)
            rest_instalments = max(p.instalments - 1, 1)
            ok_amount = amount <= max_first + 0.5
            ok_inst = p.instalments <= c.instalments_max + 1
        if amount is not None and ok_amount and ok_date and ok_inst:
            return "accept", Terms(amount=amount, date=wanted_date, instalments=rest_instalments, total=total)
        counter_amount = min(amount or max_first, max_first)
        counter_date = min(p.date or latest, latest)
        counter_rest = c.instalments_max if counter_amount < total - 0.5 else 1
        return "counter", Terms(amount=counter_amount, date=counter_date, instalments=counter_rest, total=total)

    @property
    def can_pay(self) -> bool:
        return self.scenario.concessions.can_pay and self.scenario.party == "debtor"

    def step(self, text: str, signals: TurnSignals | None = None) -> Move:
        """One trainee turn: new state, and the debtor's move."""
        signals = signals or self.signals(text)
        cues = detect_cues(text)
        s = self.scenario
        if s.party == "third_party" and discloses_debt(text, invoice_ref=s.debt.invoice_ref, amount=s.debt.amount):
            # Talking about the debt to someone who is not the debtor is a compliance violation (FR-THIRD,
            # FDCPA 1692c(b)); the person on the line also takes it badly.
            self.disclosed = True
            if THIRD_PARTY_DISCLOSURE not in signals.violations:
                signals = signals.model_copy(update={"violations": [*signals.violations, THIRD_PARTY_DISCLOSURE]})
        pushed = not self.can_pay and "payment_ask" in cues
        self.state = update_state(self.state, signals, self.tuning.sensitivity)
        if pushed:
            # They said they cannot pay on this call; every new request annoys them.
            self.state = self.state.model_copy(update={
                "irritation": min(1.0, self.state.irritation + 0.1 * self.tuning.sensitivity.hostility)})
        if signals.callback:
            cues.add("callback")
        if signals.dispute_logged:
            cues.add("dispute_logged")
        if "callback" in cues and not signals.hostile:
            self.callback = True
        if "dispute_logged" in cues:
            self.dispute = True
        if self.state.irritation >= self.tuning.hang_up:
            self.outcome = "HUNG_UP"
            move = Move("hang_up", self.state, outcome="HUNG_UP", signals=signals, cues=sorted(cues))
        else:
            revealed = self._newly_unlocked(text)
            beat: Beat = "reveal" if revealed else "respond"
            terms = None
            if not self.can_pay:
                if pushed:
                    beat = "refuse"
                    self.refusals += 1
            elif not signals.proposal.empty:
                beat, terms = self._decide_on(signals)
                if beat == "refuse":
                    self.refusals += 1
            outcome = None
            if beat == "accept":
                self.agreement = terms
                outcome = "PTP" if terms.amount >= terms.total - 0.5 or terms.instalments <= 1 else "PLAN"
                self.outcome = outcome
            objection = None
            if s.objections and (beat == "refuse" and not self.can_pay
                                 or beat in ("respond", "refuse") and signals.firmness >= 4):
                objection = s.objections[len(self.moves) % len(s.objections)]
            resolution = None if signals.hostile or signals.violations else self._resolve(cues)
            move = Move(beat, self.state, reveal=revealed if beat in ("reveal", "respond") else [],
                        terms=terms, outcome=outcome, objection=objection, signals=signals, cues=sorted(cues),
                        resolution=resolution)
            if revealed and beat not in ("reveal", "respond"):
                move.reveal = revealed  # still unlocked; the debtor may say it later
        self.moves.append(move)
        return move

    def _resolve(self, cues: set[str]) -> Outcome | None:
        """Record the resolutions this turn reaches; return the first new one."""
        first = None
        for i, (outcome, when, thresholds) in enumerate(self.resolution_rules):
            if i in self.resolved or not (when & cues):
                continue
            if thresholds is not None and not thresholds.met(self.state):
                continue
            self.resolved.add(i)
            first = first or outcome
        return first

    def final_outcome(self) -> Outcome:
        if self.outcome:
            return self.outcome
        for i, (outcome, _, _) in enumerate(self.resolution_rules):
            if i in self.resolved:
                return outcome
        if self.scenario.party == "third_party":
            return "WRONG_PARTY"  # the right party was never reached and no message was left
        if self.refusals >= 2 and (self.state.willingness < 0.3 or not self.can_pay):
            return "REFUSAL"  # refused twice, and not ready to commit (or not able to pay on this call at all)
        return "NO_COMMITMENT"

    # --- what the model is told --------------------------------------------------
    def mood(self, language: str) -> str:
        s = self.state
        fr = language == "fr"
        parts = []
        if s.irritation >= 0.65:
            parts.append("très agacé" if fr else "very annoyed")
        elif s.irritation >= 0.4:
            parts.append("agacé" if fr else "annoyed")
        if s.trust >= 0.6:
            parts.append("en confiance" if fr else "trusting")
        elif s.trust < 0.25:
            parts.append("méfiant" if fr else "wary")
        if s.willingness >= 0.55:
            parts.append("prêt à s'engager" if fr else "ready to commit")
        elif s.willingness < 0.25:
            parts.append("évasif" if fr else "evasive")
        return ", ".join(parts) or ("calme" if fr else "calm")

    def direction(self, move: Move) -> str:
        lang = self.scenario.language
        cur = self.scenario.debt.currency
        fr = lang == "fr"
        mood = self.mood(lang)
        if move.beat == "hang_up":
            return "excédé, met fin à l'appel et raccroche" if fr else "exasperated, ends the call and hangs up"
        if move.beat == "accept":
            terms = move.terms.describe(lang, cur)
            return f"accepte et confirme : {terms}" if fr else f"agrees and confirms: {terms}"
        if move.beat == "counter":
            terms = move.terms.describe(lang, cur)
            return (f"{mood} ; ne peut pas accepter ça, propose à la place : {terms}" if fr
                    else f"{mood}; cannot accept that, offers instead: {terms}")
        if move.beat == "refuse":
            base = f"{mood} ; refuse de s'engager pour l'instant" if fr else f"{mood}; refuses to commit for now"
            return base + (f", objecte : {move.objection}" if move.objection else "")
        settled = RESOLUTION_DIRECTIONS[lang].get(move.resolution, "") if move.resolution else ""
        if settled:
            mood = f"{mood} ; {settled}" if fr else f"{mood}; {settled}"
        if move.beat == "reveal":
            facts = " ".join(move.reveal)
            return f"{mood} ; confie : {facts}" if fr else f"{mood}; confides: {facts}"
        if move.objection:
            return f"{mood} ; objecte : {move.objection}" if fr else f"{mood}; objects: {move.objection}"
        return mood


# What the debtor does when the trainee's turn reaches a resolution (said in the stage direction).
RESOLUTION_DIRECTIONS: dict[str, dict[str, str]] = {
    "fr": {
        "DISPUTE": "rassuré que sa contestation soit enregistrée, accepte d'envoyer les éléments",
        "CALLBACK": "accepte d'être rappelé au moment convenu",
        "HARDSHIP": "soulagé qu'on lui laisse du temps et qu'on l'oriente vers de l'aide, remercie",
        "THIRD_PARTY_MESSAGE": "accepte de transmettre le message, sans poser de question",
        "INSOLVENCY": "indique que tout passe désormais par le mandataire et en donne les coordonnées",
        "REFUSAL": "maintient son refus",
    },
    "en": {
        "DISPUTE": "relieved the dispute is logged, agrees to send the details",
        "CALLBACK": "agrees to be called back at the agreed time",
        "HARDSHIP": "relieved to be given time and pointed to help, says thank you",
        "THIRD_PARTY_MESSAGE": "agrees to pass the message on, without asking questions",
        "INSOLVENCY": "says everything now goes through the administrator and gives their details",
        "REFUSAL": "stands by the refusal",
    },
}


DEFAULT_FALLBACKS = {
    "fr": {
        "respond": ["Hmm… je vous écoute.", "Oui… continuez.", "Je vois. Et donc ?"],
        "reveal": ["Bon… je vais être honnête avec vous : {facts}"],
        "accept": ["D'accord. On fait comme ça : {terms}.", "Entendu : {terms}. Vous pouvez compter sur moi."],
        "counter": ["Ça, je ne peux pas. Par contre, {terms}, ça je peux le faire."],
        "refuse": ["Non, là, je ne peux pas m'engager. Pas maintenant.", "Je ne peux rien vous promettre aujourd'hui."],
        "hang_up": ["Écoutez, ça suffit. Au revoir.", "Je n'ai pas à supporter ça. Au revoir."],
    },
    "en": {
        "respond": ["Hmm… I'm listening.", "Yes… go on.", "I see. And?"],
        "reveal": ["Look… I'll be honest with you: {facts}"],
        "accept": ["All right. Let's do that: {terms}.", "Agreed: {terms}. You can count on me."],
        "counter": ["I can't do that. But {terms}, that I can do."],
        "refuse": ["No, I can't commit to anything right now.", "I can't promise you anything today."],
        "hang_up": ["Look, that's enough. Goodbye.", "I don't have to put up with this. Goodbye."],
    },
}


def fallback_for(scenario: Scenario, move: Move, turn_index: int) -> str:
    lines = getattr(scenario.fallback_lines, move.beat) or DEFAULT_FALLBACKS[scenario.language][move.beat]
    line = lines[turn_index % len(lines)]
    terms = move.terms.describe(scenario.language, scenario.debt.currency) if move.terms else ""
    said = {f.text: f.say or f.text for f in scenario.hidden_facts}  # first person when the file gives it
    return line.replace("{terms}", terms).replace("{facts}", " ".join(said.get(fact, fact) for fact in move.reveal))
