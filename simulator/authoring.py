"""Authoring helpers for trainers: a commented scenario scaffold, optionally started from a character card.

`scaffold()` returns YAML text that validates as it is and whose two self-test
paths pass, so a trainer starts from something that works and changes it step
by step (`python -m simulator new-scenario ID`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .cards import CardPersona
from .settings import PROJECT_ROOT

SCHEMA_FILE = PROJECT_ROOT / "schemas" / "scenario.schema.json"


def schema_ref(scenario_dir: Path) -> str:
    """Path of the scenario JSON Schema as seen from a folder of scenario files (for the editor comment).

    Relative inside the project (it survives a move of the checkout), absolute for a folder elsewhere.
    """
    folder = scenario_dir.resolve()
    if folder.is_relative_to(PROJECT_ROOT.resolve()):
        return Path(os.path.relpath(SCHEMA_FILE, folder)).as_posix()
    return SCHEMA_FILE.as_posix()


def schema_comment(scenario_dir: Path) -> str:
    return f"# yaml-language-server: $schema={schema_ref(scenario_dir)}"


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


_TEMPLATE = {
    "fr": """\
<<schema>>
# Nouveau débiteur. Remplacez les valeurs, gardez les clés ; le guide pas à pas est dans
# docs/trainers-guide.md. Votre éditeur complète et vérifie ce fichier grâce à la ligne ci-dessus.
#   Vérifier : python -m simulator validate <<path>>
#   Essayer :  python -m simulator selftest <<id>> --backend scripted --transcripts
<<notes>>schema_version: 2
id: <<id>>                       # identifiant stable (lettres minuscules, chiffres, tirets)
title: <<title>>
language: fr                    # fr | en : la langue que parle le débiteur
difficulty: medium              # easy | medium | hard : niveau par défaut ; les chiffres ci-dessous sont le niveau moyen
segment: b2b                    # b2b (entreprise) | b2c (particulier)
party: debtor                   # debtor, ou third_party si c'est un tiers qui décroche (standard, proche)
summary: <<summary>>

persona:
  name: <<name>>
  role: <<role>>
  company: <<company>>
  personality: <<personality>>

debt:
  amount: 2400                  # montant dû (un nombre : 2400 ou 2400.50)
  currency: EUR                 # EUR, GBP, USD…
  invoice_ref: "FA-2025-0001"   # la référence que le chargé de relance cite
  due_date: 2025-02-28          # AAAA-MM-JJ
  days_overdue: 30

# Pourquoi il n'a pas payé, de son point de vue : le modèle le sait dès le début de l'appel.
situation: <<situation>>

# Ce qu'il sait mais ne dit pas d'emblée. Un fait se débloque quand l'état atteint `unlock`,
# ou quand le stagiaire aborde un de ses `topics` avec une confiance d'au moins 0,3.
hidden_facts:
<<facts>>

opening_line: <<opening>>
call_date: 2025-03-31           # date de l'appel : « vendredi », « le 15 » se lisent par rapport à elle

# L'humeur du débiteur, chaque valeur de 0 à 1 :
#   trust (confiance) monte quand on écoute et reformule ;
#   irritation monte avec la pression, les menaces, les insultes ; au seuil `hang_up`, il raccroche ;
#   willingness (disposition à s'engager) monte avec des demandes claires et fermes.
# sensitivity (0 à 5) règle la force de chaque effet pour ce personnage.
state:
  initial: {trust: 0.35, irritation: 0.2, willingness: 0.4}
  sensitivity: {empathy: 1.0, firmness: 1.0, hostility: 1.0}

# Ce qu'il peut accepter, et à partir de quel état (requires).
concessions:
  can_pay: true                 # false : facture contestée, procédure collective… il refuse toute demande de paiement
  first_payment_max: 800        # premier versement le plus élevé possible (supprimez la ligne : tout le montant)
  latest_date_days: 30          # date la plus lointaine acceptée, en jours après l'appel
  instalments_max: 3            # nombre de versements acceptés pour le reste (1 : en une seule fois)
  requires: {trust: 0.45, willingness: 0.5}

objections:                     # ce qu'il oppose quand on le presse
  - "Je n'ai pas la trésorerie en ce moment, je vous l'ai dit."
hang_up: {irritation: 0.85}

# Issues obtenues en faisant ce qu'il faut, en plus d'un paiement (facultatif). Exemple :
#   - outcome: HARDSHIP            # HARDSHIP, DISPUTE, CALLBACK, THIRD_PARTY_MESSAGE, INSOLVENCY, REFUSAL
#     when: [forbearance, signposting]   # callback, dispute_logged, message, signposting, forbearance, administrator
#     requires: {trust: 0.45}
resolutions: []

example_lines:                  # quelques répliques dans sa voix : le modèle imite le ton
<<examples>>

# Répliques de secours, une liste par temps de l'appel, quand la réponse du modèle est rejetée.
# {terms} devient l'accord ou la contre-proposition, {facts} le fait révélé.
fallback_lines:
  respond: ["Oui… je vous écoute.", "Je sais, je sais… continuez."]
  reveal: ["Bon, je vais être franc avec vous : {facts}"]
  accept: ["D'accord, je m'y engage : {terms}."]
  counter: ["Ça, je ne peux pas. Par contre, {terms}, ça je peux le faire."]
  refuse: ["Je ne peux rien vous promettre aujourd'hui."]
  hang_up: ["Écoutez, ça suffit. Au revoir."]

# Parcours d'auto-test : ce que dit un stagiaire, et l'issue que l'appel doit atteindre.
# Gardez-en au moins deux : un bon (empathique et ferme) et un mauvais.
selftest:
  - name: empathique-et-ferme
    expect: PLAN
    turns:
      - "Bonjour, Claire Martin du service relance de Bois et Compagnie. Je vous appelle au sujet de la facture FA-2025-0001 de 2 400 euros, échue depuis 30 jours."
      - "Je comprends, ce n'est pas une période facile. Si je comprends bien, votre trésorerie est tendue en ce moment ?"
      - "Merci de me le dire. Je vous demande un engagement précis : pouvez-vous verser 800 € vendredi, puis le reste en trois fois ?"
  - name: agressif
    expect: HUNG_UP
    turns:
      - "Vous êtes un mauvais payeur. Vous devez 2 400 euros, payez aujourd'hui !"
      - "Si vous ne payez pas, j'envoie l'huissier et on fait une saisie !!!"
      - "Escroc !"
""",
    "en": """\
<<schema>>
# A new debtor. Replace the values, keep the keys; the step-by-step guide is docs/trainers-guide.md.
# Your editor completes and checks this file thanks to the line above.
#   Check: python -m simulator validate <<path>>
#   Try:   python -m simulator selftest <<id>> --backend scripted --transcripts
<<notes>>schema_version: 2
id: <<id>>                       # stable identifier (lower-case letters, digits, hyphens)
title: <<title>>
language: en                    # fr | en: the language the debtor speaks
difficulty: medium              # easy | medium | hard: default level; the numbers below are the medium level
segment: b2b                    # b2b (business) | b2c (consumer)
party: debtor                   # debtor, or third_party when someone else answers (receptionist, relative)
summary: <<summary>>

persona:
  name: <<name>>
  role: <<role>>
  company: <<company>>
  personality: <<personality>>

debt:
  amount: 2400                  # amount due (a number: 2400 or 2400.50)
  currency: GBP                 # EUR, GBP, USD…
  invoice_ref: "INV-0001"       # the reference the collector quotes
  due_date: 2025-02-28          # YYYY-MM-DD
  days_overdue: 30

# Why they have not paid, from their side: the model knows it from the start of the call.
situation: <<situation>>

# What they know but do not say at first. A fact unlocks when the state reaches `unlock`,
# or when the trainee raises one of its `topics` with trust at least 0.3.
hidden_facts:
<<facts>>

opening_line: <<opening>>
call_date: 2025-03-31           # the day of the call: "Friday", "the 15th" are read against it

# The debtor's mood, each value from 0 to 1:
#   trust rises when the trainee listens and restates;
#   irritation rises with pressure, threats and insults; at the `hang_up` threshold they hang up;
#   willingness (to commit) rises with clear, firm requests.
# sensitivity (0 to 5) sets how strong each effect is for this character.
state:
  initial: {trust: 0.35, irritation: 0.2, willingness: 0.4}
  sensitivity: {empathy: 1.0, firmness: 1.0, hostility: 1.0}

# What they can agree to, and from which state (requires).
concessions:
  can_pay: true                 # false: disputed invoice, insolvency… they refuse every payment request
  first_payment_max: 800        # largest first payment they can make (delete the line: the whole amount)
  latest_date_days: 30          # latest date they accept, in days after the call
  instalments_max: 3            # instalments they accept for the rest (1: one payment only)
  requires: {trust: 0.45, willingness: 0.5}

objections:                     # what they object when pushed
  - "I've told you, the money just isn't there right now."
hang_up: {irritation: 0.85}

# Outcomes reached by doing the right thing, besides a payment (optional). For example:
#   - outcome: HARDSHIP            # HARDSHIP, DISPUTE, CALLBACK, THIRD_PARTY_MESSAGE, INSOLVENCY, REFUSAL
#     when: [forbearance, signposting]   # callback, dispute_logged, message, signposting, forbearance, administrator
#     requires: {trust: 0.45}
resolutions: []

example_lines:                  # a few lines in their voice: the model copies the tone
<<examples>>

# Fallback lines, one list per beat of the call, used when the model's reply is rejected.
# {terms} becomes the agreement or counter-offer, {facts} the fact revealed.
fallback_lines:
  respond: ["Right… I'm listening.", "I know, I know… go on."]
  reveal: ["Look, I'll be straight with you: {facts}"]
  accept: ["All right, I'll commit to that: {terms}."]
  counter: ["I can't do that. But {terms}, that I can do."]
  refuse: ["I can't promise you anything today."]
  hang_up: ["Look, that's enough. Goodbye."]

# Self-test paths: what a trainee says, and the outcome the call must reach.
# Keep at least two: a good one (empathic and firm) and a bad one.
selftest:
  - name: empathic-and-firm
    expect: PLAN
    turns:
      - "Good morning, this is Claire Martin from the accounts team at Wood & Co. I'm calling about invoice INV-0001 for 2,400 pounds, which is 30 days overdue."
      - "I understand, it's not an easy time. So if I understand correctly, cash is tight for you at the moment?"
      - "Thank you for telling me. I need a firm commitment: can you pay 800 pounds this Friday, and the rest in three instalments?"
  - name: aggressive
    expect: HUNG_UP
    turns:
      - "You owe us 2,400 pounds. Pay it today!!!"
      - "If you don't pay, I'll send a bailiff to seize your equipment!!!"
      - "You're a liar and a crook."
""",
}

_DEFAULTS = {
    "fr": {
        "title": "Titre court affiché sur la fiche du scénario",
        "summary": "Une phrase pour le stagiaire : de quoi parle cet appel.",
        "name": "Jean Dupont", "role": "gérant", "company": "Dupont Rénovation SARL",
        "personality": "Poli mais sur la défensive. Il parle peu au début, s'ouvre si on l'écoute et qu'on reformule sa "
                       "situation, se ferme si on le brusque.",
        "situation": "Un gros client l'a payé avec deux mois de retard ; sa trésorerie est tendue et il a payé ses "
                     "salariés en priorité.",
        "opening": "Dupont Rénovation, bonjour.",
        "facts": [("Il pourrait verser 800 euros tout de suite, et le reste en trois fois.", [], "{trust: 0.6, willingness: 0.5}"),
                  ("Sa banque vient de lui refuser une rallonge de découvert.", ["banque", "découvert"], "{trust: 0.55}")],
        "examples": ["Oui, je sais… je suis désolé pour ce retard.", "C'est pas l'envie qui manque, croyez-moi."],
        "role_card": "à préciser (gérant, comptable, particulier…)", "company_card": "à préciser (entreprise ou foyer)",
        "notes": "Importé de la carte de personnage",
    },
    "en": {
        "title": "Short title shown on the scenario card",
        "summary": "One line for the trainee: what this call is about.",
        "name": "John Smith", "role": "director", "company": "Smith Joinery Ltd",
        "personality": "Polite but defensive. Says little at first, opens up when listened to and when his situation is "
                       "restated, closes down when rushed.",
        "situation": "A big customer paid him two months late; cash is tight and he paid his staff first.",
        "opening": "Smith Joinery, good morning.",
        "facts": [("He could pay 800 pounds straight away and the rest in three instalments.", [], "{trust: 0.6, willingness: 0.5}"),
                  ("His bank has just refused to extend his overdraft.", ["bank", "overdraft"], "{trust: 0.55}")],
        "examples": ["Yes, I know… I'm sorry it's late.", "Believe me, it's not that I don't want to pay."],
        "role_card": "to fill in (director, bookkeeper, consumer…)", "company_card": "to fill in (company or household)",
        "notes": "Imported from the character card",
    },
}


def _facts_yaml(facts: list[tuple[str, list[str], str]]) -> str:
    lines = []
    for text, topics, unlock in facts:
        lines.append(f"  - text: {q(text)}")
        lines.append(f"    unlock: {unlock}")
        if topics:
            lines.append(f"    topics: [{', '.join(q(t) for t in topics)}]")
    return "\n".join(lines)


def scaffold(scenario_id: str, language: str = "fr", *, card: CardPersona | None = None,
             scenario_dir: Path | None = None) -> str:
    """A commented scenario file that validates and whose self-tests pass; filled from `card` when given."""
    if language not in _TEMPLATE:
        raise ValueError(f"unknown language {language!r}: use fr or en")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", scenario_id):
        raise ValueError(f"invalid scenario id {scenario_id!r}: use lower-case letters, digits, '-' and '_'")
    d = _DEFAULTS[language]
    scenario_dir = scenario_dir or PROJECT_ROOT / "scenarios"
    values = {
        "title": d["title"], "summary": d["summary"], "name": d["name"], "role": d["role"], "company": d["company"],
        "personality": d["personality"], "situation": d["situation"], "opening": d["opening"],
    }
    facts = list(d["facts"])
    examples = list(d["examples"])
    notes = ""
    if card is not None:
        values.update(name=card.name, role=d["role_card"], company=d["company_card"], title=card.name)
        values["personality"] = card.personality or values["personality"]
        values["situation"] = card.situation or values["situation"]
        values["opening"] = card.opening_line or values["opening"]
        examples = card.example_lines or examples
        # the card's lore entries become hidden facts; keep the scaffold's payment fact so the self-test still passes
        facts = [(text, topics, "{trust: 0.6}") for text, topics in card.hidden_facts] + facts[:1]
        header = [f"# {d['notes']} {card.source}".rstrip() + "."]
        header += [f"#   {line}" for note in card.notes for line in _wrap(note)]
        notes = "\n".join(header) + "\n"
    text = _TEMPLATE[language]
    replacements = {
        "<<schema>>": schema_comment(scenario_dir), "<<id>>": scenario_id,
        "<<path>>": _shown_path(scenario_dir / f"{scenario_id}.yaml"),
        "<<notes>>": notes, "<<facts>>": _facts_yaml(facts),
        "<<examples>>": "\n".join(f"  - {q(line)}" for line in examples),
        **{f"<<{k}>>": q(v) for k, v in values.items()},
    }
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text


def _shown_path(path: Path) -> str:
    try:
        shown = Path(os.path.relpath(path.resolve(), Path.cwd()))
    except ValueError:
        return path.as_posix()
    return path.as_posix() if shown.as_posix().startswith("../..") else shown.as_posix()


def _wrap(text: str, width: int = 90) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + ([current] if current else [])
