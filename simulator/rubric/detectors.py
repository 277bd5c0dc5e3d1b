"""Built-in detectors: amounts, dates, invoice references, instalments, questions — with spans.

They run on the folded turn (`text.fold`, same length as the original) so the
spans are the trainee's own characters. Amounts reuse the proposal parser's
expressions (`debtor/proposals.py`); dates and instalments are written as
plain patterns so the scorer gates and runs them like the rubric's own
(`DATE_PATTERNS`, `INSTALMENT_PATTERNS`): most turns contain no date word and
cost nothing.
"""

from __future__ import annotations

from typing import Final

import re

from ..debtor import proposals as P
from .gate import finditer_spans, searcher
from .text import _K_DIGIT, _in_cp1252, _kind

Span = tuple[int, int]
# compiled by mypyc (a loop over characters is then fast), or running as plain Python (then `re` is faster)
COMPILED: Final = not __file__.endswith(".py")

_WEEKDAY: Final = "(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH: Final = "(" + "|".join(sorted(P.MONTHS, key=len, reverse=True)) + ")"
_SMALL: Final = "([0-9]+|un|une|deux|trois|quatre|cinq|six|sept|huit|dix|quinze|one|two|three|four|five|seven|ten|fourteen|thirty)"

# folded-text patterns (lower case, no accents); the scorer compiles them with word boundaries
DATE_PATTERNS: Final[tuple[str, ...]] = (
    rf"((le|ce|d ici|avant|au plus tard|by|on|this|next|before) )?{_WEEKDAY}( prochain)?( [0-9]{{1,2}}(er)?( {_MONTH})?)?",
    rf"[0-9]{{1,2}}(er|st|nd|rd|th)? {_MONTH}( [0-9]{{4}})?",
    rf"{_MONTH} [0-9]{{1,2}}(st|nd|rd|th)?",
    r"[0-9]{1,2}/[0-9]{1,2}(/[0-9]{2,4})?",
    r"(le|au|on the|by the) [0-9]{1,2}(er|st|nd|rd|th)?(?!\s*(/|%|€|euros?|jours?|days?|fois|k\b|[0-9]))",
    r"aujourd hui|apres demain|demain|ce soir|today|tomorrow|tonight",
    r"(a la )?fin (du|de ce|de la) (mois|semaine)( prochaine?)?",
    r"end of (the|this|next) (month|week)",
    r"debut du mois prochain|la semaine prochaine|next week",
    rf"(dans|d ici|sous|within|in) {_SMALL} (jours?|semaines?|mois|days?|weeks?|months?)",
)
INSTALMENT_PATTERNS: Final[tuple[str, ...]] = (
    r"(en|in|sur|over) ([0-9]+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|vingt|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve) (fois|versements?|mensualites?|echeances?|instal?lments?|payments?|mois|months?)",
    r"([0-9]+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve) (mensualites|echeances|versements|instal?lments|monthly payments)",
)

_DIGIT: Final = re.compile(r"\d")
_ASCII_DIGIT: Final = re.compile(r"[0-9]")
_CURRENCY: Final = re.compile(r"€|£|\$|\b(?:euros?|eur|pounds?|livres? sterling|dollars?|usd|gbp)\b")
_NUMBER_WORD: Final = re.compile(r"[a-z]+")
_INVOICE: Final = re.compile(
    r"(?<![\w-])(?:[A-Z]{1,5}[-/]?\d{2,}(?:[-/]\d+)*|\d{4,}[-/]\d+)(?![\w-])"
    r"|(?i:facture|invoice|dossier|contrat|account)\s+(?:n°\s*|no\.?\s*|num[eé]ro\s+|number\s+|#\s*)\d[\w-]*"
)
_INVOICE_HINT: Final = re.compile(r"[A-Z][-/]?\d|\d[-/]\d|[nN]°|[nN]um[eé]ro|[nN]umber|#|[nN]o\.")
# its alternatives, each searched on its own (a text matches the hint when it matches one of them; each
# starts with a literal or a class, which `re` scans for quickly, unlike the alternation as a whole)
_INVOICE_HINT_PARTS: Final = (r"[A-Z][-/]?\d", r"\d[-/]\d", r"[nN]°", r"[nN]um[eé]ro", r"[nN]umber", r"#", r"[nN]o\.")
assert "|".join(_INVOICE_HINT_PARTS) == _INVOICE_HINT.pattern, "keep _INVOICE_HINT_PARTS the hint's alternatives"
_QUESTION: Final = re.compile(r"[^.!?…\n]*\?")
# `_QUESTION` matches a run of non-stop characters ending with "?": the run starts right after the stop
# character before it. Scanning the stop characters finds the same spans without trying every position.
_STOP: Final = re.compile(r"[.!?…\n]")
# every `_CURRENCY` match contains one of these: no need to run it on a text with none
_CURRENCY_HINTS: Final = ("€", "£", "$", "eur", "pound", "livre", "dollar", "usd", "gbp")
_CURRENCY_HINT: Final = re.compile("|".join(re.escape(h) for h in _CURRENCY_HINTS))  # one scan for them all
# the same patterns, searched faster (same matches: see gate.searcher)
_CURRENCY_SEARCH: Final = searcher(_CURRENCY.pattern)
_INVOICE_HINT_SEARCHES: Final = tuple(searcher(part)[0] for part in _INVOICE_HINT_PARTS)
_DIGIT_RUN: Final = re.compile(r"\d+")

# What `amounts` and `invoice_refs` look for before anything else, as patterns of the folded turn that match
# at least wherever those first checks would pass: the probe's prefilter (matcher.py) reports them with the
# rubric's patterns, and a turn with none of them skips the detector (which would find nothing). `fold`
# keeps every digit a digit (`\d`), lowers A-Z, turns "-" into a space, "é" into "e" and keeps "°", "#", "/", ".".
HINT_DIGIT: Final = 0  # `_first_digit` finds one
HINT_CURRENCY: Final = 1  # `_CURRENCY_HINT` finds one
HINT_INVOICE: Final = 2  # one of `_INVOICE_HINT_PARTS` matches the original turn
HINTS: Final[tuple[str, ...]] = (
    r"\d",
    _CURRENCY_HINT.pattern,
    r"[a-z][\s/]?\d|\d[\s/]\d|n°|numero|number|#|no\.",
)


def _digit_amounts(folded: str, start: int) -> list[re.Match]:
    """`list(P._DIGIT_AMOUNT.finditer(folded, start))`, faster: a match starts a run of digits (its look-behind
    refuses a digit or "/" before it), so the pattern is tried only at the runs' starts, in order (compiled:
    the runs read character by character, `\\d` as `re` sees it)."""
    out: list[re.Match] = []
    pos = start
    match = P._DIGIT_AMOUNT.match
    if not COMPILED:
        for run in _DIGIT_RUN.finditer(folded, start):
            if run.start() < pos:
                continue
            m = match(folded, run.start())
            if m is not None:
                out.append(m)
                pos = m.end()
        return out
    n = len(folded)
    i = start
    while i < n:
        if not _kind(folded, i) & _K_DIGIT:
            i += 1
            continue
        j = i + 1
        while j < n and _kind(folded, j) & _K_DIGIT:
            j += 1
        if i >= pos:
            m = match(folded, i)
            if m is not None:
                out.append(m)
                pos = m.end()
        i = j
    return out


def _first_digit(text: str) -> re.Match | None:
    """`_DIGIT.search(text)`: in a text of Windows-1252 characters the only digits are 0-9, which `re`
    finds faster than the Unicode digit category."""
    if text.isascii() or _in_cp1252(text):
        return _ASCII_DIGIT.search(text)
    return _DIGIT.search(text)


def _word_amounts(folded: str) -> list[Span]:
    """"deux mille euros": number words just before a currency word."""
    spans = []
    for cur_start, cur_end in finditer_spans(_CURRENCY_SEARCH, folded):
        before = folded[max(0, cur_start - 60):cur_start]
        tail = before.rstrip()
        if not tail or not "a" <= tail[-1] <= "z":
            continue  # no word right before the currency ("2 350 €"): the loop below would stop at once
        tokens = list(_NUMBER_WORD.finditer(before))
        best = None
        for k in range(len(tokens) - 1, max(-1, len(tokens) - 7), -1):
            gap = before[tokens[k].end():].strip()
            if gap and k == len(tokens) - 1:
                break  # something other than spaces between the words and the currency
            words = [t.group() for t in tokens[k:]]
            value = P.words_to_number(words)
            if value and (value >= 2 or len(words) > 1):  # "a euro", "un euro" are not amounts worth noting
                best = tokens[k].start()
            else:
                break
        if best is not None:
            spans.append((cur_start - len(before) + best, cur_end))
    return spans


def amounts(folded: str, digit_hint: bool = True, currency_hint: bool = True) -> list[Span]:
    """Money amounts: "2 350 €", "€2,350", "2k", "deux mille euros". `digit_hint`, `currency_hint`: False when
    the probe's prefilter found no digit, no `_CURRENCY_HINT` (`HINTS`): then there is none to look for."""
    digit = _first_digit(folded) if digit_hint else None
    has_digit = digit is not None
    first = digit.start() if digit is not None else 0
    has_currency = (currency_hint and _CURRENCY_HINT.search(folded) is not None
                    and _CURRENCY_SEARCH[0].search(folded) is not None)
    if not has_digit and not has_currency:
        return []
    spans: list[Span] = []
    if has_digit:
        if has_currency:
            spans.extend(m.span() for m in P._PREFIX_AMOUNT.finditer(folded))
        # a digit amount starts with a digit: search from the first one (the look-behind still sees before it)
        for m in _digit_amounts(folded, first):
            _whole, _cents, kilo, currency = m.groups()
            if not (kilo or currency) or any(s <= m.start() < e for s, e in spans):
                continue
            spans.append(m.span())
    if has_currency:
        spans.extend(s for s in _word_amounts(folded) if not any(a <= s[0] < b for a, b in spans))
    trimmed = []
    for start, end in sorted(spans):
        while end > start and folded[end - 1].isspace():
            end -= 1
        trimmed.append((start, end))
    return trimmed


def _invoice_hint_plain(original: str) -> bool:
    """Whether `_INVOICE_HINT` matches the text (the first version: each alternative searched on its own)."""
    return any(hint.search(original) for hint in _INVOICE_HINT_SEARCHES)


def _invoice_hint(original: str) -> bool:
    """`_invoice_hint_plain`, faster: the alternatives that are plain strings ("n°", "N°", "numero", "numéro",
    "Numero", "Numéro", "number", "Number", "#", "no.", "No.") looked for with `in` (a fast substring search), the two
    with classes searched with `re`. The same answer (the alternatives match exactly where those strings occur)."""
    return ("#" in original or "°" in original and ("n°" in original or "N°" in original)
            or "um" in original and ("umero" in original or "uméro" in original or "umber" in original)
            and any(word in original for word in _NUMBER_WORDS)
            or "o." in original and ("no." in original or "No." in original)
            or _INVOICE_HINT_SEARCHES[0].search(original) is not None
            or _INVOICE_HINT_SEARCHES[1].search(original) is not None)


# the strings of `_INVOICE_HINT_PARTS` [nN]um[eé]ro and [nN]umber
_NUMBER_WORDS: Final = ("numero", "numéro", "Numero", "Numéro", "number", "Number")


def invoice_refs(original: str) -> list[Span]:
    # every reference holds a digit: a turn without one has none
    if _first_digit(original) is None or not _invoice_hint(original):
        return []
    return [m.span() for m in _INVOICE.finditer(original)]


def questions(original: str) -> list[Span]:
    if "?" not in original:
        return []
    spans = []
    begin = 0
    for stop in _STOP.finditer(original):  # = _QUESTION.finditer(original), faster
        end = stop.end()
        if original[stop.start()] == "?":
            start = begin
            while start < end and original[start].isspace():
                start += 1
            spans.append((start, end))
        begin = end
    return spans
