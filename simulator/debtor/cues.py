"""Situational cues: *what* the trainee did in a turn, as opposed to how well.

The scorer (`signals.py`, later the rubric engine) says how empathic, firm and
clear a turn was. The engine also needs a few plain facts about a turn that
decide special outcomes: did the trainee leave a message with a third party,
point to free debt advice, offer to pause collection, ask for the insolvency
administrator, ask for a payment, mention the debt at all? These are read here
from the words, in French and English, so the scenario outcomes do not depend
on which scorer is plugged in. Each cue is one regular expression over the
folded text (lower case, no accents, apostrophes and hyphens as spaces).
"""

from __future__ import annotations

import re
from typing import Literal

from .proposals import find_amounts, fold

# The cues a scenario's `resolutions` can name (plus `callback` and
# `dispute_logged`, which come from the turn signals).
CueName = Literal["callback", "dispute_logged", "message", "signposting", "forbearance", "administrator"]
CUE_NAMES: tuple[str, ...] = ("callback", "dispute_logged", "message", "signposting", "forbearance", "administrator")

_PRONOUN_FR = r"(?:lui|leur)"
_PRONOUN_EN = r"(?:him|her|them|mr \w+|mrs \w+|ms \w+)"

_PATTERNS: dict[str, re.Pattern] = {
    # Leaves a message for the right party with whoever answered.
    "message": re.compile(
        rf"\b({_PRONOUN_FR} (?:transmettre|laisser|passer|faire passer) (?:un|mon|le|ce) (?:petit )?message|"
        rf"(?:laisser|prendre|noter) un (?:petit )?message|transmettre (?:un|mon) message|"
        rf"qu (?:il|elle|ils) me rappellen?t?|(?:{_PRONOUN_FR} demander|dites {_PRONOUN_FR}|demandez {_PRONOUN_FR}) de me rappeler|"
        rf"{_PRONOUN_FR} (?:dire|signaler|indiquer) que (?:j ai|je l ai) appele|{_PRONOUN_FR} transmettre mes coordonnees|"
        rf"pass (?:on )?(?:a|my) message|leave (?:a|my) message|take a message|"
        rf"ask {_PRONOUN_EN} to (?:call|ring|phone) me(?: back)?|have {_PRONOUN_EN} (?:call|ring|phone) me|"
        rf"let {_PRONOUN_EN} know (?:that )?i (?:called|rang|phoned))\b"
    ),
    # Says they will call back later (the turn signals may also report it).
    "callback": re.compile(
        r"\b(je (?:vous |le |la |l )?rappellerai|je (?:vous |le |la |l )?rappelle (?:plus tard|demain|ce soir|cet apres midi|"
        r"dans|la semaine|lundi|mardi|mercredi|jeudi|vendredi|a \d)|je retenterai|"
        r"i ll (?:call|ring|phone|try) (?:(?:him|her|them|you|back|again) ?)+|i will (?:call|ring|phone|try) (?:(?:him|her|them|you|back|again) ?)+|"
        r"(?:call|ring) (?:him|her|them) back)\b"
    ),
    # Points to free, independent debt advice.
    "signposting": re.compile(
        r"\b(cresus|points? conseil budget|banque de france|surendettement|assistante? sociale?|ccas|"
        r"conseill(?:er|ere) (?:budgetaire|en economie sociale)|aide (?:budgetaire )?gratuite|france services|"
        r"association (?:d aide|de consommateurs|qui aide)|stepchange|step change|citizens advice|national debtline|"
        r"moneyhelper|money helper|(?:free|independent) (?:and \w+ )?(?:debt |money )?advice|debt advice|debt charity|"
        r"nfcc|credit counsel(?:l)?ing|non ?profit credit counsel(?:l)?or)\b"
    ),
    # Offers to pause, freeze or reduce collection while the debtor recovers.
    "forbearance": re.compile(
        r"\b(suspend(?:re|s|ons)? (?:les |la |nos |vos |toute )?(?:relances?|prelevements?|paiements?|dossier|recouvrement|echeances?|poursuites)|"
        r"suspension (?:des |de la )?(?:relances?|paiements?|echeances?|prelevements?)|"
        r"mettre (?:le|votre|ce) (?:dossier|compte|recouvrement) en (?:pause|attente|suspens)|"
        r"(?:une|faire une) pause (?:dans|sur) (?:les|vos) (?:relances?|paiements?|remboursements?)|"
        r"gel(?:er)? (?:des |les )?(?:interets|penalites|frais|relances)|report(?:er)? (?:les |vos |la |votre )?(?:echeances?|mensualites?)|"
        r"put (?:the|your) account on hold|(?:pause|suspend|freeze|hold) (?:the |your |all )?(?:collection|payments?|account|interest|charges)|"
        r"breathing space|hold off (?:on )?(?:collection|contacting|payments?)|stop (?:interest|charges) (?:being added|for))\b"
    ),
    # Asks about the insolvency administrator, liquidator or practitioner (to lodge the claim there).
    "administrator": re.compile(
        r"\b(mandataire(?: judiciaire)?|administrateur judiciaire|liquidateur(?: judiciaire)?|declar(?:er|ation de) (?:notre |la |ma )?creance|"
        r"insolvency practitioner|administrators?|liquidators?|bankruptcy trustee|trustee|proof of debt|official receiver)\b"
    ),
    # Asks the debtor to pay (not just a mention of the amount).
    "payment_ask": re.compile(
        r"\b((?:pouvez|pourriez|pourrez|allez|voulez|pouvons nous) vous (?:\w+ ){0,3}?(?:regler|payer|verser|faire (?:un|le) (?:virement|paiement|reglement)|vous engager)|"
        r"je vous demande (?:de (?:regler|payer|verser)|(?:le |un )?(?:reglement|paiement|virement|acompte))|"
        r"quand (?:pouvez|allez|pourrez|comptez) vous (?:regler|payer|verser)|"
        r"(?:il|il vous) faut (?:regler|payer|verser)|reglez|payez|un (?:acompte|virement|reglement) (?:aujourd hui|demain|cette semaine|vendredi)|"
        r"(?:can|could|will|would) you (?:\w+ ){0,3}?(?:pay|settle|make a payment|clear)|when (?:can|will|could) you (?:\w+ ){0,2}?(?:pay|settle)|"
        r"i need (?:a |the )?payment|pay (?:it|this|the (?:balance|invoice|bill|amount)) (?:today|now|by)|settle (?:the|this) (?:balance|invoice|account))\b"
    ),
    # Mentions the debt: a problem when the person on the line is not the debtor.
    "debt_words": re.compile(
        r"\b(factures? (?:impayees?|en retard|non reglees?|en souffrance)|impayes?|dette|creance|recouvrement|relances?|"
        r"retard de paiement|mise en demeure|contentieux|doit (?:de l argent|encore|toujours)|"
        r"debts?|owes?|owing|overdue|unpaid|past due|arrears|collections?|collect(?:ing)? (?:a|the) (?:debt|balance)|"
        r"outstanding (?:balance|invoice|amount|bill))\b"
    ),
}


# A request put as a question in statement order ("vous pourriez faire le virement ?"): only counts in a
# sentence that ends with a question mark, so "vous ne pouvez pas régler, je le comprends" is not an ask.
_QUESTION_ASK = re.compile(
    r"\bvous (?:ne )?(?:pouvez|pourriez|pourrez) (?:pas )?(?:\w+ ){0,2}?(?:regler|payer|verser|faire (?:un|le) (?:virement|paiement|reglement))"
    r"|\byou (?:can|could) (?:\w+ ){0,2}?(?:pay|settle)\b"
)
_QUESTION = re.compile(r"[^.!?]*\?")


def detect_cues(text: str) -> set[str]:
    """Names of the cues present in a trainee turn (`message`, `signposting`, …)."""
    folded = fold(text)
    found = {name for name, pattern in _PATTERNS.items() if pattern.search(folded)}
    if any(_QUESTION_ASK.search(q) for q in _QUESTION.findall(folded)):
        found.add("payment_ask")
    return found


def discloses_debt(text: str, *, invoice_ref: str, amount: float) -> bool:
    """The turn tells whoever answers that there is a debt: its words, its invoice or its amount."""
    folded = fold(text)
    if _PATTERNS["debt_words"].search(folded):
        return True
    ref = fold(invoice_ref).strip()
    if ref and re.search(rf"(?<![a-z0-9]){re.escape(ref)}(?![a-z0-9])", folded):
        return True
    return any(abs(a - amount) < 1 for a in find_amounts(text))
