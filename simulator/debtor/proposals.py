"""Read payment proposals out of what the trainee says: amounts, dates, instalments.

French and English, relative to the scenario's call date. We measured
`dateparser.search.search_dates` on our phrases: it read the pronoun "Je" as a
date (jeudi) and missed "le 15" and "fin du mois", so the few expressions a
collector uses are read here by rule.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, timedelta

Date = date  # the Proposal field below is called `date`

from pydantic import BaseModel

_UNITS_FR = {
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
    "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
}
_UNITS_EN = {
    "zero": 0, "one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"cent": 100, "cents": 100, "hundred": 100, "mille": 1000, "thousand": 1000, "mil": 1000}
_NUMBER_WORDS = {**_UNITS_FR, **_UNITS_EN, **_SCALES, "et": None, "and": None}

WEEKDAYS = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}
MONTHS = {
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
    "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
}

_CURRENCY = r"(?:€|euros?|eur\b|£|pounds?|livres?|\$|dollars?|usd\b|gbp\b)"


class Proposal(BaseModel):
    """What the trainee put on the table in one turn (any part may be missing)."""

    amount: float | None = None
    date: Date | None = None
    instalments: int | None = None
    full: bool = False  # "la totalité", "the full amount"

    @property
    def empty(self) -> bool:
        return self.amount is None and self.date is None and self.instalments is None and not self.full


def fold(text: str) -> str:
    """Lower case, no accents, apostrophes and hyphens as spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[’'\-]", " ", text)


def words_to_number(words: list[str]) -> int | None:
    total, current, seen = 0, 0, False
    for i, word in enumerate(words):
        if word in ("et", "and"):
            continue
        if word in ("a", "un", "une") and i + 1 < len(words) and words[i + 1] in _SCALES:
            current = max(current, 1)
            seen = True
            continue
        if word in _UNITS_FR or word in _UNITS_EN:
            value = _UNITS_FR.get(word, _UNITS_EN.get(word))
            # "quatre vingt" = 80, "soixante dix" = 70
            if word == "vingt" and current in (4,):
                current = 80
            elif current and current % 10 == 0 and current >= 20 and value < 20:
                current += value
            elif current and value >= 20 and current < 10:
                current = current * value if word == "vingt" else current + value
            else:
                current += value
            seen = True
        elif word in _SCALES:
            scale = _SCALES[word]
            current = max(current, 1) * scale
            if scale == 1000:
                total += current
                current = 0
            seen = True
        else:
            return None
    return total + current if seen else None


def _parse_digits(text: str) -> float:
    text = re.sub(r"[\s\u202f\u00a0]", "", text)
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", text):  # 2.000 = two thousand
        text = text.replace(".", "")
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):  # 3,480 = three thousand four hundred and eighty (English)
        text = text.replace(",", "")
    return float(text.replace(",", "."))


_DIGIT_AMOUNT = re.compile(
    rf"(?<![\d/])(\d{{1,3}}(?:[ \u202f\u00a0.,]\d{{3}})+(?!\d)|\d+)(?:[,.](\d{{1,2}}))?\s*(k\b)?\s*({_CURRENCY})?",
    re.IGNORECASE,
)
_PREFIX_AMOUNT = re.compile(r"([£$€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*(k\b)?", re.IGNORECASE)
_WORD_AMOUNT = re.compile(
    rf"\b((?:(?:{'|'.join(sorted(_NUMBER_WORDS, key=len, reverse=True))})\s+)+){_CURRENCY}", re.IGNORECASE
)


def find_amounts(text: str) -> list[float]:
    """Money amounts said with a currency or a 'k' ("2 000 €", "2k", "deux mille euros")."""
    folded = fold(text)
    found: list[tuple[int, float]] = []
    for m in _PREFIX_AMOUNT.finditer(folded):
        _, whole, cents, kilo = m.groups()
        value = float(whole.replace(",", "")) + (float(f"0.{cents}") if cents else 0.0)
        found.append((m.start(), value * 1000 if kilo else value))
    prefixed = {m.end() for m in _PREFIX_AMOUNT.finditer(folded)}
    for m in _DIGIT_AMOUNT.finditer(folded):
        if any(m.start() < end <= m.end() for end in prefixed) or folded[max(0, m.start() - 2):m.start()].strip() in ("£", "$", "€"):
            continue
        whole, cents, kilo, currency = m.groups()
        if not (kilo or currency):
            continue
        value = _parse_digits(whole) + (float(f"0.{cents}") if cents else 0.0)
        found.append((m.start(), value * 1000 if kilo else value))
    for m in _WORD_AMOUNT.finditer(folded):
        value = words_to_number(m.group(1).split())
        if value:
            found.append((m.start(), float(value)))
    return [value for _, value in sorted(found)]


def _end_of_month(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _next_month_day(call: date, day: int) -> date:
    year, month = (call.year + (call.month == 12), call.month % 12 + 1)
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _day_of_month(call: date, day: int, month: int | None = None) -> date | None:
    if not 1 <= day <= 31:
        return None
    if month:
        year = call.year if (month, day) >= (call.month, call.day) else call.year + 1
        day = min(day, calendar.monthrange(year, month)[1])
        return date(year, month, day)
    if day > call.day and day <= calendar.monthrange(call.year, call.month)[1]:
        return call.replace(day=day)
    return _next_month_day(call, day)


_QUANTITY = r"(\d+|(?:[a-z]+\s?){1,3}?)"


def find_dates(text: str, call_date: date) -> list[date]:
    """Payment dates: weekdays, "le 15", "15/12", "15 décembre", "fin du mois", "dans dix jours"…"""
    t = fold(text)
    found: list[tuple[int, date]] = []

    def add(pos: int, d: date | None) -> None:
        if d is not None:
            found.append((pos, d))

    for m in re.finditer(r"\b(aujourd hui|today|ce soir|tonight)\b", t):
        add(m.start(), call_date)
    for m in re.finditer(r"\b(apres demain|day after tomorrow)\b", t):
        add(m.start(), call_date + timedelta(days=2))
    for m in re.finditer(r"\b(?<!apres )(demain|tomorrow)\b", t):
        if "day after tomorrow" not in t[max(0, m.start() - 10): m.end()]:
            add(m.start(), call_date + timedelta(days=1))
    for m in re.finditer(r"\b(fin (?:du|de ce) mois|end of (?:the|this) month)\b", t):
        add(m.start(), _end_of_month(call_date))
    for m in re.finditer(r"\b(fin du mois prochain|end of next month)\b", t):
        add(m.start(), _end_of_month(_next_month_day(call_date, 1)))
    for m in re.finditer(r"\b(debut du mois prochain|start of next month|beginning of next month)\b", t):
        add(m.start(), _next_month_day(call_date, 5))
    for m in re.finditer(r"\b(fin de (?:la )?semaine|end of (?:the|this) week)\b", t):
        add(m.start(), call_date + timedelta(days=(4 - call_date.weekday()) % 7 or 7))
    for m in re.finditer(r"\b(la semaine prochaine|next week)\b", t):
        add(m.start(), call_date + timedelta(days=7))
    for m in re.finditer(rf"\b(?:dans|in|sous)\s+{_QUANTITY}\s*(jours?|days?|semaines?|weeks?|mois|months?)\b", t):
        qty = m.group(1).strip()
        n = int(qty) if qty.isdigit() else words_to_number(qty.split())
        if n:
            unit = m.group(2)
            if unit.startswith(("jour", "day")):
                add(m.start(), call_date + timedelta(days=n))
            elif unit.startswith(("semaine", "week")):
                add(m.start(), call_date + timedelta(weeks=n))
            else:
                target = call_date
                for _ in range(n):
                    target = _next_month_day(target, target.day)
                add(m.start(), target)
    for m in re.finditer(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", t):
        ahead = (WEEKDAYS[m.group(1)] - call_date.weekday()) % 7 or 7
        add(m.start(), call_date + timedelta(days=ahead))
    month_names = "|".join(MONTHS)
    for m in re.finditer(rf"\b(\d{{1,2}})(?:er|st|nd|rd|th)?\s+({month_names})\b", t):
        add(m.start(), _day_of_month(call_date, int(m.group(1)), MONTHS[m.group(2)]))
    for m in re.finditer(rf"\b({month_names})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", t):
        add(m.start(), _day_of_month(call_date, int(m.group(2)), MONTHS[m.group(1)]))
    for m in re.finditer(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", t):
        day, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            add(m.start(), _day_of_month(call_date, day, month))
    for m in re.finditer(rf"\b(?:le|on the|by the|au)\s+(\d{{1,2}})(?:er|st|nd|rd|th)?\b(?!\s*(?:/|{month_names}|%|€|euros?|jours?|days?|fois|k\b))", t):
        add(m.start(), _day_of_month(call_date, int(m.group(1))))
    found.sort(key=lambda item: item[0])
    unique: list[date] = []
    for _, d in found:
        if d not in unique:
            unique.append(d)
    return unique


_INSTALMENTS = re.compile(
    rf"\b(?:en|in|sur|over)\s+{_QUANTITY}\s*(?:(?:monthly|weekly|equal)\s+)?(fois|versements?|mensualites?|echeances?|instal?lments?|payments?|mois|months?)\b"
    rf"|\b{_QUANTITY}\s*(mensualites|echeances|versements|instal?lments|monthly payments)\b",
    re.IGNORECASE,
)


def find_instalments(text: str) -> int | None:
    t = fold(text)
    for m in _INSTALMENTS.finditer(t):
        qty = (m.group(1) or m.group(3) or "").strip()
        n = int(qty) if qty.isdigit() else words_to_number(qty.split())
        if n and 2 <= n <= 60:
            return n
    return None


_FULL = re.compile(r"\b(la totalite|l integralite|tout regler|en une (?:seule )?fois|the full amount|in full|the whole amount)\b")


def parse_proposal(text: str, call_date: date) -> Proposal:
    amounts = find_amounts(text)
    dates = find_dates(text, call_date)
    return Proposal(
        amount=amounts[0] if amounts else None,
        date=dates[0] if dates else None,
        instalments=find_instalments(text),
        full=bool(_FULL.search(fold(text))),
    )
