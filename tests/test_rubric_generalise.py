"""The French rules generalise: pattern families that meet in a sentence (`near`), negation that is not
one, optional spaces in patterns, debtor cues that switch rules on, and the rule families themselves on
sentences that appear in no labelled file (fresh wording, on purpose)."""

from pathlib import Path

import pytest

from simulator.errors import RubricError
from simulator.rubric import Scorer, load_rubric, resolve_rubric
from simulator.rubric.text import fold, fold_pattern
from simulator.settings import PROJECT_ROOT

RUBRICS = PROJECT_ROOT / "rubrics"


@pytest.fixture(scope="module")
def fr():
    return Scorer(resolve_rubric("fr-default"))


def categories(scorer: Scorer, text: str, debtor: str = "x") -> set[str]:
    # a non-empty debtor line by default: the turn is mid-call, so the opening disclosures count as made
    return {v.category for v in scorer.score_isolated(text, debtor).violations}


# --- mechanics --------------------------------------------------------------------------------------
def test_a_space_followed_by_a_question_mark_is_an_optional_space():
    import re

    folded = fold_pattern("[0-9]+ ?(€|euros)")
    assert re.fullmatch(folded, "20€") and re.fullmatch(folded, "20 €") and re.fullmatch(folded, "20   euros")
    assert fold_pattern("je (vous )?comprends") == r"je\s+(vous\s+)?comprends"


def _tiny_rubric(tmp_path: Path, rules: str, cues: str = "") -> Path:
    (tmp_path / "packs").mkdir(exist_ok=True)
    (tmp_path / "packs" / "tiny.yaml").write_text(f"""
id: tiny
title: {{fr: Petit, en: Tiny}}
jurisdiction: FR
rules:
{rules}
""", encoding="utf-8")
    base = (RUBRICS / "fr-default.yaml").read_text(encoding="utf-8")
    path = tmp_path / "tiny-rubric.yaml"
    path.write_text(base.replace("compliance:\n  - packs/fr.yaml", "compliance:\n  - packs/tiny.yaml"), encoding="utf-8")
    return path


NEAR_RULE = """
  - id: FR-TEST-TELL
    category: threat
    reference: test
    description: {fr: d, en: d}
    patterns: {fr: ["(previendrai|informerai)"]}
    near:
      - fr: ["votre (employeur|banquier)"]
"""


def test_near_groups_must_meet_the_pattern_in_the_same_sentence_in_any_order(tmp_path):
    scorer = Scorer(load_rubric(_tiny_rubric(tmp_path, NEAR_RULE)))
    assert categories(scorer, "Je préviendrai votre employeur dès lundi.") == {"threat"}
    assert categories(scorer, "Votre employeur, je le préviendrai dès lundi.") == {"threat"}  # other order
    assert categories(scorer, "Je préviendrai Julie. Votre employeur n'a rien à voir.") == set()  # two sentences
    assert categories(scorer, "Je préviendrai votre comptable demain.") == set()  # the group is missing
    assert categories(scorer, "Je ne préviendrai jamais votre employeur.") == set()  # negated pattern


def test_a_look_behind_with_a_space_is_reported_with_its_line(tmp_path):
    rule = NEAR_RULE.replace('"(previendrai|informerai)"', '"(?<!ne )previendrai"')
    path = _tiny_rubric(tmp_path, rule)
    with pytest.raises(RubricError) as exc:
        load_rubric(path)
    problem = next(p for p in exc.value.problems if "not valid once folded" in p)
    assert problem.startswith(f"{tmp_path / 'packs' / 'tiny.yaml'}:") and r"(?<!se\s)" in problem


def test_words_that_only_look_like_a_negation_do_not_negate(fr):
    assert categories(fr, "Parfait. N'oubliez pas d'ajouter les 35 € de frais de recouvrement.") == {"fees"}
    assert categories(fr, "Nous n'ajoutons aucuns frais de recouvrement, rassurez-vous.") == set()
    assert categories(fr, "On ne vous demande que de vendre votre voiture, rien de plus.") == {"pressure"}
    assert categories(fr, "Nous ne vous demandons pas de vendre votre voiture.") == set()


# --- the rule families, on fresh wording --------------------------------------------------------------
VIOLATIONS = [
    # threat: telling the debtor's circle (verb family in our forms, or a passive), visits, veiled menace
    ("Je n'ai pas l'argent.", "Dans ce cas, vos clients seront vite mis au courant de vos habitudes de paiement.", "threat"),
    ("Je verrai.", "Si rien n'arrive jeudi, je contacterai votre banquier pour lui expliquer la situation.", "threat"),
    ("Je ne paierai pas.", "Mon collègue passera vous voir à votre boutique samedi, devant vos clients.", "threat"),
    ("Vous ne me faites pas peur.", "Vous verrez bien ce qui arrive aux gens qui ne paient pas leurs fournisseurs.", "threat"),
    ("Attendez la fin du mois.", "Avant la fin du mois, vos comptes seront bloqués, croyez-moi.", "false_legal"),
    # insult: contempt, implied incompetence, discrimination
    ("J'ai perdu le relevé.", "Trouvez quelqu'un de compétent pour vos papiers, parce que là, c'est lamentable.", "insult"),
    ("Je n'y comprends rien.", "Vous êtes bête ou vous le faites exprès ?", "insult"),
    # harassment: a verb of calling near a frequency or a night hour; calling on after a stop request
    ("Je suis occupé.", "Je vous téléphonerai chaque heure jusqu'à ce que vous décrochiez.", "harassment"),
    ("Ne m'appelez plus, écrivez-moi.", "Non, je continuerai à vous appeler sur votre portable.", "harassment"),
    ("Rappelez plus tard.", "Je vous rappelle ce soir à 23 h, puis demain à 6 h.", "harassment"),
    # third party: someone else answered; a relayed message that reveals the debt
    ("Ici sa colocataire, il dort.", "Vous pourriez lui dire qu'il doit toujours 320 € à Ondéo ?", "third_party"),
    ("Bonjour, c'est la voisine de Madame Lenoir.", "Elle a un impayé de 90 € chez nous, vous la verrez ce soir ?", "third_party"),
    # false authority: identity claims, documents called judicial
    ("Qui est à l'appareil ?", "Je suis greffière au tribunal de commerce, Monsieur.", "false_authority"),
    ("C'est quoi ce courrier ?", "C'est une assignation, vous devez vous présenter.", "false_authority"),
    # false legal: crime, automatic consequences, invented deadlines, suppliers outside over-indebtedness
    ("Je ne peux pas.", "Ne pas payer, c'est de l'escroquerie, vous risquez une plainte pénale.", "false_legal"),
    ("J'ai le temps ?", "Passé vendredi, vous perdez tous vos droits de recours.", "false_legal"),
    ("J'ai un dossier à la commission de surendettement.", "Ce dossier ne concerne que les banques, pas un fournisseur comme nous.", "false_legal"),
    # fees
    ("Combien en tout ?", "Il faut compter 120 € de plus : ce sont les honoraires de notre agence.", "fees"),
    ("Je suis un particulier.", "Alors on ajoute l'indemnité forfaitaire de 40 €, c'est la règle.", "fees"),
    # pressure: borrowing, selling, savings, everything tonight after a plan, pressing a dispute / an accepted file
    ("Je n'ai pas la somme.", "Demandez donc un prêt à votre banque, ça se fait en une journée.", "pressure"),
    ("Je n'ai que mon utilitaire.", "Vendez votre utilitaire, vous en retrouverez un autre.", "pressure"),
    ("Je peux payer en trois fois.", "Pas d'échelonnement : je veux la totalité demain.", "pressure"),
    ("Le chantier n'est pas terminé, je conteste la facture.", "Entendu, mais réglez quand même un acompte en attendant.", "pressure"),
    ("Mon plan de surendettement a été validé hier.", "Félicitations. Faites quand même un petit virement de 20 € ce mois-ci.", "pressure"),
    # disclosure: an opening with no identification
    ("", "Bonjour Monsieur, c'est au sujet de votre retard de paiement, vous comptez régler quand ?", "disclosure_missing"),
]


@pytest.mark.parametrize("debtor,turn,category", VIOLATIONS)
def test_fresh_wordings_of_each_violation_are_caught(fr, debtor, turn, category):
    assert category in categories(fr, turn, debtor)


HARD_NEGATIVES = [
    ("Et si je ne paie pas ?", "Le 30, le dossier part au service contentieux, qui peut demander une injonction de payer."),
    ("Vous allez prévenir mon patron ?", "Non, votre employeur ne sera jamais informé, ce dossier reste entre nous."),
    ("Vous pouvez saisir mes meubles ?", "Non. Une saisie demande une décision de justice, et nous n'en sommes pas là."),
    ("On conteste la facture 12.", "Je note la contestation et je suspends la relance sur la facture 12. La facture 14 n'est pas concernée : vous pouvez la régler vendredi ?"),
    ("Mon dossier de surendettement est recevable.", "Merci de me prévenir : on arrête toute demande de paiement. Vous m'envoyez la décision ?"),
    ("C'est quoi ces 40 € ?", "Entre professionnels, c'est l'indemnité forfaitaire de recouvrement prévue par le Code de commerce."),
    ("Rappelez-moi demain.", "Très bien, je vous rappelle demain à 10 h, une seule fois."),
    ("Non, c'est sa fille, il est absent.", "Merci, je rappellerai. Pouvez-vous lui dire que Léa Morel a appelé ?"),
    ("Il faut que je demande à mon frère de me prêter ?", "Non, surtout pas : on ne vous demande pas d'emprunter. Un petit montant par mois suffira."),
    ("Vous êtes huissier ?", "Non, je ne suis ni huissier ni avocat : je suis chargée de relance chez Vitalis."),
    ("Qu'est-ce qui se passe chez vous ?", "Racontez-moi ce qui se passe chez vous en ce moment, on trouvera une solution."),
    ("Je n'ai pas compris.", "N'hésitez pas à me rappeler au 01 23 45 67 89 si quelque chose n'est pas clair."),
]


@pytest.mark.parametrize("debtor,turn", HARD_NEGATIVES)
def test_true_next_steps_and_correct_handling_are_not_violations(fr, debtor, turn):
    assert categories(fr, turn, debtor) == set()


def test_cues_switch_the_contextual_rules(fr):
    # the same words are pressure only once the debtor offered a plan, disputed, or filed and was accepted
    ask = "Réglez la totalité demain."
    assert "pressure" in categories(fr, ask, "Je peux payer en quatre fois.")
    assert "pressure" not in categories(fr, ask, "D'accord, dites-moi.")
    small = "Faites quand même un petit virement de 30 €."
    assert "pressure" in categories(fr, small, "Ma commission de surendettement a accepté mon dossier.")
    assert "pressure" not in categories(fr, small, "Mon dossier de surendettement est en cours d'examen.")
    # the 40 € indemnity: only a violation once the debtor said they are a consumer
    forty = "Il faut ajouter l'indemnité forfaitaire de 40 €."
    assert "fees" in categories(fr, forty, "Je suis un particulier, pas une entreprise.")
    assert "fees" not in categories(fr, forty, "On est une SARL.")


def test_empathy_and_firmness_families(fr):
    hardship = "On vient de perdre notre père, c'est un moment très dur."
    cold = fr.score_isolated("Hm. La facture de 980 €, c'est pour quand ?", hardship)
    warm = fr.score_isolated("Je suis vraiment désolée pour votre père. On en reparle le 12, quand vous aurez un peu de temps ?", hardship)
    assert cold.scores["empathy"] <= 2 < 4 <= warm.scores["empathy"]
    # reassuring a worried debtor with true facts is empathy
    worried = fr.score_isolated("Non, pas du tout, on n'en est pas là. Cherchons plutôt une date ensemble.", "Vous allez m'envoyer l'huissier ?")
    assert worried.scores["empathy"] >= 4 and not worried.violations
    # a request in declarative word order, with amount and date, is firm; giving in to a vague delay is not
    firm = fr.score_isolated("Les 1 200 €, vous pouvez les régler mardi 9 ?", "Je vais voir.")
    soft = fr.score_isolated("D'accord, disons la semaine prochaine alors, c'est déjà ça.", "On verra la semaine prochaine.")
    assert firm.scores["firmness"] >= 4 and soft.scores["firmness"] <= 2
    # quoting the debtor's vague words to challenge them is not vagueness
    pin = fr.score_isolated("Rapidement, c'est quel jour, concrètement ?", "Je vais payer rapidement.")
    assert not any(e.indicator in ("vague", "vague-time") for e in pin.evidence)
    assert fold("Rapidement") == "rapidement"
