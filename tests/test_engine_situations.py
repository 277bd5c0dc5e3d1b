"""Engine extensions for the scenario library: situational cues, resolutions (HARDSHIP, THIRD_PARTY_MESSAGE,
INSOLVENCY, WRONG_PARTY), a third party who must not hear about the debt, and debtors who cannot pay."""

from pathlib import Path

import pytest

from simulator.debtor.cues import detect_cues, discloses_debt
from simulator.debtor.engine import DebtorEngine
from simulator.debtor.state import DebtorState
from simulator.scenario import load_scenarios, parse_scenario_text
from simulator.selftest import dry_run


@pytest.fixture(scope="module")
def library(scenarios_dir=Path(__file__).resolve().parent.parent / "scenarios"):
    result = load_scenarios(scenarios_dir)
    assert result.errors == []
    return {sid: sf.scenario for sid, sf in result.scenarios.items()}


@pytest.mark.parametrize("text, cue", [
    ("Pourriez-vous lui demander de me rappeler au 04 73 28 61 90 ?", "message"),
    ("Je peux vous laisser un message pour lui ?", "message"),
    ("Could you ask him to call me back on 0113 496 0000?", "message"),
    ("Je vous donne le contact d'un point conseil budget, c'est gratuit.", "signposting"),
    ("Vous pouvez aussi contacter Crésus, une association qui aide gratuitement.", "signposting"),
    ("StepChange is a free debt advice charity.", "signposting"),
    ("Je suspends les relances pendant deux mois.", "forbearance"),
    ("I'll put your account on hold for sixty days.", "forbearance"),
    ("Pouvez-vous me donner les coordonnées du mandataire judiciaire ?", "administrator"),
    ("Who is the insolvency practitioner dealing with the company?", "administrator"),
    ("Je le rappellerai jeudi matin.", "callback"),
    ("I'll call back this evening after six.", "callback"),
    ("Pouvez-vous la régler cette semaine ?", "payment_ask"),
    ("Vous ne pourriez pas faire le virement vous-même ?", "payment_ask"),
    ("Could you pay £50 today?", "payment_ask"),
])
def test_cues_are_read_in_french_and_english(text, cue):
    assert cue in detect_cues(text)


@pytest.mark.parametrize("text, cue", [
    ("Mais reprenons les faits : vous aviez promis de payer.", "callback"),
    ("Je vous rappelle les faits : trois promesses non tenues.", "callback"),
    ("Je comprends que vous ne pouvez pas régler cette facture.", "payment_ask"),
    ("Je ne peux pas vous accorder de délai supplémentaire.", "forbearance"),
    ("Bonjour Madame, je souhaiterais parler à M. Delmas.", "message"),
])
def test_cues_do_not_fire_on_look_alikes(text, cue):
    assert cue not in detect_cues(text)


def test_disclosure_is_the_debt_its_invoice_or_its_amount():
    kw = dict(invoice_ref="PAD-24-2210", amount=3180)
    assert discloses_debt("C'est pour une facture impayée.", **kw)
    assert discloses_debt("Il s'agit de la PAD-24-2210.", **kw)
    assert discloses_debt("Il nous doit 3 180 euros.", **kw)
    assert discloses_debt("This is Daniel from a debt collection agency.", invoice_ref="EVG-7730192", amount=486.2)
    assert not discloses_debt("C'est au sujet d'un dossier qui le concerne personnellement.", **kw)
    assert not discloses_debt("Hi, this is Daniel Reyes. Is Tyler available?", invoice_ref="EVG-7730192", amount=486.2)


# --- a third party on the line ----------------------------------------------------------

def test_telling_a_third_party_about_the_debt_is_a_violation_that_costs_trust(library):
    gatekeeper = library["standard-barrage"]
    neutral, blurted = DebtorEngine(gatekeeper), DebtorEngine(gatekeeper)
    calm = neutral.step("Bonjour Madame, Nicolas Perrot, de Pièces Auto Distribution. Je souhaiterais parler à M. Delmas.")
    bad = blurted.step("Bonjour Madame, Nicolas Perrot, de Pièces Auto Distribution, pour une facture impayée de M. Delmas.")
    assert "third_party_disclosure" in bad.signals.violations and blurted.disclosed
    assert "third_party_disclosure" not in calm.signals.violations and not neutral.disclosed
    assert bad.state.trust < calm.state.trust - 0.15
    assert bad.state.irritation > calm.state.irritation + 0.25
    assert bad.weak_point == "disclosure"
    assert bad.to_dict()["signals"]["violations"] == ["third_party_disclosure"]


def test_the_same_words_to_the_debtor_are_no_violation(library):
    engine = DebtorEngine(library["difficulte-passagere"])
    move = engine.step("Bonjour Monsieur Moreau, c'est pour une facture impayée.")
    assert move.signals.violations == []


def test_a_neutral_message_with_a_third_party_is_THIRD_PARTY_MESSAGE(library):
    engine = DebtorEngine(library["standard-barrage"])
    engine.step("Bonjour Madame, Nicolas Perrot, de Pièces Auto Distribution. M. Delmas est-il là ?")
    move = engine.step("Pourriez-vous lui demander de me rappeler ? Nicolas Perrot, au 04 73 28 61 90.")
    assert move.resolution == "THIRD_PARTY_MESSAGE" and move.beat != "accept"
    assert "accepte de transmettre le message" in engine.direction(move)
    assert engine.final_outcome() == "THIRD_PARTY_MESSAGE"


def test_a_third_party_never_agrees_to_pay_and_nothing_left_is_WRONG_PARTY(library):
    engine = DebtorEngine(library["standard-barrage"])
    engine.state = DebtorState(trust=0.9, irritation=0.0, willingness=0.9)
    move = engine.step("Vous pourriez faire le virement de 3 180 euros vendredi ?")
    assert move.beat == "refuse" and engine.agreement is None
    assert engine.final_outcome() == "WRONG_PARTY"


# --- a debtor who cannot pay on this call -----------------------------------------------

def test_asking_a_disputing_debtor_to_pay_is_refused_and_annoys_them(library):
    dispute = library["litige-livraison"]
    asked, told = DebtorEngine(dispute), DebtorEngine(dispute)
    asked.state = told.state = DebtorState(trust=0.9, irritation=0.2, willingness=0.9)
    ask = asked.step("Pouvez-vous régler les 6 480 euros vendredi ?")
    mention = told.step("Je vous appelle pour la facture de 6 480 euros du 15 octobre.")
    assert ask.beat == "refuse" and ask.objection  # she says why: the display case does not work
    assert mention.beat in ("respond", "reveal")  # naming the amount is not asking for it
    assert ask.state.irritation > mention.state.irritation + 0.08


def test_two_refused_requests_from_a_debtor_who_cannot_pay_are_a_REFUSAL(library):
    engine = DebtorEngine(library["procedure-collective"])
    engine.step("Quand pouvez-vous régler la facture TX-24-0788 ?")
    assert engine.final_outcome() == "NO_COMMITMENT"
    engine.step("Pouvez-vous au moins nous verser un acompte ?")
    assert engine.refusals == 2 and engine.final_outcome() == "REFUSAL"


# --- resolutions -------------------------------------------------------------------------

def test_hardship_needs_trust_first(library):
    cold = DebtorEngine(library["consommateur-vulnerable"])
    move = cold.step("Je vous oriente vers un point conseil budget.")
    assert move.resolution is None and cold.final_outcome() == "NO_COMMITMENT"
    warm = DebtorEngine(library["consommateur-vulnerable"])
    warm.step("Je suis désolé d'apprendre ça. Si je comprends bien, vous avez perdu votre emploi en décembre ?")
    move = warm.step("Je vous oriente vers un point conseil budget, c'est gratuit.")
    assert move.resolution == "HARDSHIP" and warm.final_outcome() == "HARDSHIP"
    assert "soulagé" in warm.direction(move)


def test_a_hostile_turn_reaches_no_resolution(library):
    engine = DebtorEngine(library["consommateur-vulnerable"])
    engine.state = DebtorState(trust=0.9, irritation=0.0, willingness=0.5)
    move = engine.step("Je suspends les relances, mais vous êtes une menteuse.")
    assert move.resolution is None


def test_hanging_up_beats_an_earlier_resolution(library):
    engine = DebtorEngine(library["consommateur-vulnerable"])
    engine.state = DebtorState(trust=0.9, irritation=0.0, willingness=0.5)
    engine.step("Je suspends les prélèvements pendant deux mois.")
    assert engine.final_outcome() == "HARDSHIP"
    for _ in range(4):
        if engine.step("Escroc ! L'huissier va venir saisir vos meubles !!!").ends_call:
            break
    assert engine.final_outcome() == "HUNG_UP"


def test_insolvency_is_reached_by_asking_for_the_administrator(library):
    run = dry_run(library["procedure-collective"], library["procedure-collective"].selftest[0])
    assert run.outcome == "INSOLVENCY"
    asked = [m for m in run.moves if m.resolution == "INSOLVENCY"]
    assert asked and "administrator" in asked[0].cues
    assert any("Maître Hélène Vasseur" in fact for m in run.moves for fact in m.reveal)


def test_a_scenario_rule_replaces_the_built_in_rule_for_its_outcome(library):
    # litige-livraison wants trust >= 0.45 before a dispute counts; the built-in rule would count it at once
    engine = DebtorEngine(library["litige-livraison"])
    move = engine.step("Je note votre contestation.")
    assert "dispute_logged" in move.cues and move.resolution is None
    assert engine.final_outcome() == "NO_COMMITMENT"
    # a scenario without its own rule keeps the built-in one
    plain = DebtorEngine(library["difficulte-passagere"])
    assert plain.step("Je note votre contestation.").resolution == "DISPUTE"
    assert plain.final_outcome() == "DISPUTE"


def test_move_record_keeps_cues_and_resolution(library):
    engine = DebtorEngine(library["standard-barrage"])
    record = engine.step("Pourriez-vous lui demander de me rappeler ?").to_dict()
    assert record["cues"] == ["message"] and record["resolution"] == "THIRD_PARTY_MESSAGE"


RESOLUTION_FILE = """\
id: demo
title: Demo
language: en
difficulty: medium
persona: {name: Jo, role: owner, company: Jo Ltd, personality: Calm.}
debt: {amount: 100, currency: GBP, invoice_ref: X-1, due_date: 2025-01-01, days_overdue: 10}
situation: Lost her job.
opening_line: Hello?
resolutions:
  - outcome: HARDSHIP
    when: [signposting, hugs]
"""


def test_an_unknown_cue_is_reported_with_its_line():
    from simulator.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(RESOLUTION_FILE, Path("demo.yaml"))
    (problem,) = info.value.problems
    assert problem.startswith("demo.yaml:11: resolutions.0.when.1: Input should be 'callback', 'dispute_logged'")


# --- English amounts and instalments the English scenarios need ---------------------------

@pytest.mark.parametrize("text, amounts", [
    ("invoice INV-20931 for 3,480 pounds", [3480.0]),
    ("can you pay 1,000 pounds this Friday", [1000.0]),
    ("1,50 € tout de suite", [1.5]),  # a French decimal comma stays a decimal
    ("£3,480.50", [3480.5]),
])
def test_english_thousands_separator(text, amounts):
    from simulator.debtor.proposals import find_amounts

    assert find_amounts(text) == amounts


def test_monthly_instalments():
    from simulator.debtor.proposals import find_instalments

    assert find_instalments("and the rest in two monthly instalments") == 2
    assert find_instalments("over 6 monthly payments") == 6


@pytest.mark.parametrize("sid", ["standard-barrage", "us-roommate-third-party"])
def test_a_third_party_is_never_handed_the_debt_by_the_prompt(library, sid):
    from simulator.debtor.prompt import PromptBuilder, TranscriptLine

    s = library[sid]
    for fmt in ("transcript", "chat"):
        request = PromptBuilder(s, fmt).build([TranscriptLine("debtor", s.opening_line), TranscriptLine("agent", "Hello?")])
        prompt = request.prompt or " ".join(m.content for m in request.messages)
        assert s.debt.invoice_ref not in prompt
        assert f"{s.debt.amount:.0f}" not in prompt.replace("\u202f", "").replace(",", "")
    assert "Doit 2" in PromptBuilder(library["recalcitrant"]).prefix()  # the debtor still knows what they owe
