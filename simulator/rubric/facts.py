"""A trainee turn checked against the scenario's file: an amount stated as the debt must be the debt.

The rubric scores how a turn is said; in a practice call the simulator also knows what is true — the amount
due, the invoice. A trainee who announces « la facture de 2 350 € » on a 1 260 € file misstates the debt:
poor preparation that confuses the debtor (and, said to a real debtor, a misleading claim). The turn's clarity
is capped at 2 with a tip naming both figures, and a note; no violation category fits a wrong figure (the
rubric's list is fixed), so it is not a critical error.

Only sentences that state the debt are read (« vous nous devez … », « la facture de … », « le solde dû … », « le
montant dû … »), and not those that propose a payment (« je vous propose 500 € maintenant », « en trois
fois », « d'ici vendredi »): a partial payment or an instalment is not the debt. A sentence that also states
the right figure is not flagged (« 1 260 €, plus l'indemnité de 40 € »), nor one about someone else's money
(« votre client vous doit 38 000 € », « la facture de votre promoteur »): a reformulation of the debtor's words. Real transcripts (`score`) have no
file: nothing is checked there.
"""

from __future__ import annotations

import re

from ..debtor.proposals import find_amounts
from .results import Cap, TurnScore
from .text import fold

# a sentence that states what is owed
_CLAIM = {
    "fr": re.compile(
        r"\b(vous (nous |me |lui )?devez|(vous )?(nous )?etes redevables?|(la|cette|votre|notre) facture|"
        r"(la|votre|cette) dette|(le|votre) solde (du|restant|de la facture|de votre dossier|de votre compte client)|"
        r"(la|votre) creance|(l|votre) impaye|montant (du|total|restant|impaye|de la facture|de votre (facture|dette)|"
        r"de la dette|a regler|a payer)|reste (a payer|du|a regler)|total (du|de la facture|a payer|a regler)|"
        r"(votre|l) encours|(votre|l) ardoise)\b"),
    "en": re.compile(
        r"\b(you owe|(the|your|this) (invoice|balance|debt|bill)|amount (due|owed|outstanding)|outstanding (balance|"
        r"amount)|total (due|owed))\b"),
}
# a sentence that proposes or asks for a payment (a part, an instalment, a date): not a statement of the debt
_PROPOSAL = {
    "fr": re.compile(
        r"\b(propose\w*|proposition|d abord|premier versement|acompte|par mois|mensualites?|echeances?|en \w+ fois|"
        r"maintenant|tout de suite|aujourd hui|d ici|avant (le|la|fin|vendredi|lundi|mardi|mercredi|jeudi|samedi|"
        r"dimanche)|fin du mois|le reste|une partie|un premier|premiere partie|pourriez vous|pouvez vous|pourrez "
        r"vous|verser|virer|des que)\b"),
    "en": re.compile(
        r"\b(propos\w*|offer|first payment|instal?ments?|per month|a month|monthly|now|today|by (friday|monday|"
        r"tuesday|wednesday|thursday|the end)|part of|the rest|could you|can you|will you)\b"),
}
# a sentence about someone else's money (the debtor's client, bank…): a reformulation, not the debt
_OTHERS = {
    "fr": re.compile(r"\b(votre|son|leur|vos|ses) (client|clients|promoteur|donneur d ordre|fournisseur|banque|banquier|"
                     r"assureur|employeur|locataire|proprietaire)\b"),
    "en": re.compile(r"\b(your|their|his|her) (client|clients|customer|customers|bank|insurer|employer|tenant|landlord)\b"),
}
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")
# the flat 40 € indemnity a late professional debtor owes on top (Code de commerce L441-10, D441-5)
B2B_INDEMNITY = 40.0

TIP = {
    "fr": "Montant annoncé : {stated} — le dossier indique {due}{ref}. Vérifiez le dossier avant l'appel et "
          "annoncez le bon chiffre : « La facture{ref_short} de {due} reste due. »",
    "en": "Amount stated: {stated} — the file says {due}{ref}. Check the file before the call and quote the "
          "right figure: \"Invoice{ref_short} for {due} is still due.\"",
}


def misstated_amount(text: str, due: float, language: str, segment: str | None = None) -> float | None:
    """The first amount the turn states as the debt that is not the debt (`due`, or `due` + the 40 € indemnity
    in a B2B call), or None. Amounts within one unit of a right figure count as right."""
    claim = _CLAIM.get(language, _CLAIM["fr"])
    proposal = _PROPOSAL.get(language, _PROPOSAL["fr"])
    others = _OTHERS.get(language, _OTHERS["fr"])
    right = [due] + ([due + B2B_INDEMNITY] if segment != "b2c" else [])
    for m in _SENTENCE.finditer(text):
        sentence = m.group(0)
        folded = fold(sentence)
        if not claim.search(folded) or proposal.search(folded) or others.search(folded):
            continue
        amounts = find_amounts(sentence)
        if not amounts or any(abs(a - r) < 1 for a in amounts for r in right):
            continue
        return max(amounts)
    return None


def check_stated_amount(score: TurnScore, text: str, *, due: float, currency: str, language: str,
                        segment: str | None = None, invoice_ref: str = "") -> TurnScore:
    """The turn with clarity capped at 2, a tip and a note when it states the debt with a wrong figure."""
    from ..debtor.prompt import money

    stated = misstated_amount(text, due, language, segment)
    if stated is None:
        return score
    lang = language if language in TIP else "fr"
    ref = f" (facture {invoice_ref})" if lang == "fr" and invoice_ref else (f" (invoice {invoice_ref})" if invoice_ref else "")
    tip = TIP[lang].format(stated=money(stated, currency, lang), due=money(due, currency, lang), ref=ref,
                           ref_short=f" {invoice_ref}" if invoice_ref else "")
    note = f"amount stated {stated:g}, the file says {due:g}"
    if "clarity" not in score.scores:  # a rubric without that dimension: the note only
        return score.model_copy(update={"notes": [*score.notes, note]})
    caps = [*score.caps, Cap(dimension="clarity", cap=2, reason=f"wrong amount ({stated:g} stated, {due:g} due)")]
    return score.model_copy(update={
        "scores": {**score.scores, "clarity": min(score.scores["clarity"], 2)}, "caps": caps,
        "tips": {**score.tips, "clarity": tip}, "notes": [*score.notes, f"{note}: clarity capped at 2"],
    })
