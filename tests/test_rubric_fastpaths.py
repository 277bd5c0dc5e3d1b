"""The scorer's fast paths find exactly what the plain way finds.

The scorer gates patterns on literals, runs them eagerly in the probe, rewrites some for `re` to skip
through the text, and replaces several text measures with table- or cache-based versions (see gate.py,
text.py, detectors.py). Each is checked here against a plain reference written the obvious way, on the
frozen golden corpus plus random texts, for every shipped rubric in both languages — so a pattern added to
a rubric later is checked too.
"""

from __future__ import annotations

import random
import re

import pytest

from simulator.debtor import proposals as P
from simulator.rubric import detectors as D
from simulator.rubric import matcher
from simulator.rubric import text as T
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorer import (_ASKWORD, _ASKWORD_SEARCH, _CONTENT_WORD, _NEGATION, _NOT_NEGATING,
                                     _NOT_NEGATING_HINTS, _OPTION, _OPTION_SEARCH, _STOP, Scorer, _at_least,
                                     _echo_by_char, _negated, _negated_plain, _sentence_of, _sentence_of_plain,
                                     _stem, echo_spans)
from simulator.rubric.gate import searcher
from tests import rubric_golden


def _plain_bounded(regex: re.Pattern, text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The first version's scan: every match starting at a word boundary."""
    spans, pos = [], start
    while True:
        m = regex.search(text, pos, end)
        if m is None:
            return spans
        s = m.start()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] == "_"):
            pos = s + 1
            continue
        spans.append(m.span())
        pos = max(m.end(), s + 1)


_PLAIN: dict[int, list[re.Pattern]] = {}


def _plain_spans(owner, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Every pattern of `owner` run on text[start:end], no gate, no rewrite; overlaps merged as the scorer does."""
    end = len(text) if end is None else end
    regexes = _PLAIN.get(id(owner))
    if regexes is None:
        regexes = _PLAIN[id(owner)] = [re.compile(source) for source in owner.sources]
    found = []
    for regex in regexes:
        found.extend(_plain_bounded(regex, text, start, end))
    found.sort()
    kept = found[:1]
    for s, e in found[1:]:
        if s >= kept[-1][1]:
            kept.append((s, e))
        elif e > kept[-1][1] and s == kept[-1][0]:
            kept[-1] = (s, e)
    return kept


def _texts() -> list[str]:
    inputs = rubric_golden.load_inputs()
    texts = []
    for group, pairs in inputs["turns"].items():
        step = {"weird": 1, "en": 2, "long_en": 6, "long_fr": 12}.get(group, 9)
        for debtor, agent in pairs[::step]:
            texts.extend([agent, debtor])
    rng = random.Random(7)
    alphabet = list("abcdefghijklmnopqrstuvwxyz   ,.?!'’-/0123456789€$£éèàçôœ\n")
    texts.extend("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(30))
    # characters whose classes differ from what they look like (superscripts are letters to `re`, Arabic-Indic
    # digits are digits, U+0085 and U+2028 are whitespace, "…" ends a sentence), at every kind of place
    odd = list("ab 12'’.,?!…\n\t²³٣٤İǅ_\x85\u2028\xa0-/#AZNn°") + [
        "...", "?!", " 1 000,5 ", "l'", "’a", "Numéro", "numero", "number", "No.", "N°", "FAC-2024/7", "é1", "A/٣"]
    texts.extend("".join(rng.choice(odd) for _ in range(rng.randint(0, 40))) for _ in range(60))
    return [t for t in dict.fromkeys(texts)]


TEXTS = _texts()


@pytest.mark.parametrize("rubric_id", rubric_golden.RUBRICS)
@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("prefilter", [
    pytest.param("hyperscan", marks=pytest.mark.skipif(not matcher.available(), reason="hyperscan not installed")),
    "literal",
])
def test_probe_finds_what_every_pattern_finds(rubric_id, lang, prefilter, monkeypatch):
    """With the Hyperscan prefilter (matcher.py) and with the literal gates alone."""
    monkeypatch.setenv(matcher.MODE_ENV, prefilter)
    scorer = Scorer(resolve_rubric(rubric_id), lang)
    assert (scorer.literals.matcher is not None) == (prefilter == "hyperscan"), scorer.literals.matcher_state
    agent_owners = {id(o): o for o in [i.regex for i in scorer.indicators] + [s.regex for s in scorer.stages]
                    + [x for r in scorer.rules for x in (r.regex, r.trigger, r.unless)]
                    + list(scorer.builtin.values()) if o is not None}.values()
    cue_owners = [o for o in scorer.cues.values() if o is not None]
    rng = random.Random(3)
    checked = 0
    for text in TEXTS:
        folded = T.fold(text)
        probe = scorer.probe(text)
        for owner in agent_owners:
            assert owner.spans(probe) == _plain_spans(owner, folded), (owner.sources, text)
            checked += 1
            if folded and rng.random() < 0.1:  # a window, as `unless` runs in a sentence
                a = rng.randrange(len(folded))
                b = rng.randrange(a, len(folded) + 1)
                assert owner.spans(probe, a, b) == _plain_spans(owner, folded, a, b), (owner.sources, text, a, b)
        debtor_probe = scorer.probe_debtor(text)
        for owner in cue_owners:
            assert owner.spans(debtor_probe) == _plain_spans(owner, folded), (owner.sources, text)
        assert scorer.debtor_cues(text) == [name for name, o in scorer.cues.items()
                                            if o is not None and _plain_spans(o, folded)]
    assert checked > 1000


def _plain_amounts(folded: str) -> list[tuple[int, int]]:
    """detectors.amounts as first written."""
    has_digit = D._DIGIT.search(folded) is not None
    has_currency = D._CURRENCY.search(folded) is not None
    if not has_digit and not has_currency:
        return []
    spans = []
    if has_digit:
        if has_currency:
            spans.extend(m.span() for m in P._PREFIX_AMOUNT.finditer(folded))
        for m in P._DIGIT_AMOUNT.finditer(folded):
            _whole, _cents, kilo, currency = m.groups()
            if not (kilo or currency) or any(s <= m.start() < e for s, e in spans):
                continue
            spans.append(m.span())
    if has_currency:
        word_spans = []
        for cur in D._CURRENCY.finditer(folded):
            before = folded[max(0, cur.start() - 60):cur.start()]
            tokens = list(D._NUMBER_WORD.finditer(before))
            best = None
            for k in range(len(tokens) - 1, max(-1, len(tokens) - 7), -1):
                gap = before[tokens[k].end():].strip()
                if gap and k == len(tokens) - 1:
                    break
                words = [t.group() for t in tokens[k:]]
                value = P.words_to_number(words)
                if value and (value >= 2 or len(words) > 1):
                    best = tokens[k].start()
                else:
                    break
            if best is not None:
                word_spans.append((cur.start() - len(before) + best, cur.end()))
        spans.extend(s for s in word_spans if not any(a <= s[0] < b for a, b in spans))
    trimmed = []
    for start, end in sorted(spans):
        while end > start and folded[end - 1].isspace():
            end -= 1
        trimmed.append((start, end))
    return trimmed


def _plain_questions(original: str) -> list[tuple[int, int]]:
    spans = []
    for m in D._QUESTION.finditer(original):
        start = m.start()
        while start < m.end() and original[start].isspace():
            start += 1
        spans.append((start, m.end()))
    return spans


def _plain_echo(folded: str, debtor_folded: str) -> list[tuple[int, int]]:
    said = {_stem(w) for w in _CONTENT_WORD.findall(debtor_folded) if w not in _STOP}
    if not said:
        return []
    return [m.span() for m in _CONTENT_WORD.finditer(folded) if m.group() not in _STOP and _stem(m.group()) in said]


def test_text_measures_and_detectors_equal_their_plain_versions():
    rng = random.Random(11)
    for text in TEXTS:
        folded = T.fold(text)
        assert folded == "".join(T._fold_char(c) for c in text)
        ws = T.words(text)
        assert ws == T._WORD.findall(text) == T._words_by_char(text)
        assert T.sentence_count(text) == len(T.sentences(text)) == T._sentence_count_by_char(text)
        assert T.upper_ratio_fast(text, ws) == T.upper_ratio(text)
        for method, lang in (("kandel_moles", "fr"), ("flesch", "en"), ("rix", "fr")):
            n = rng.randint(0, 3)
            plain = [w for w in ws if not w[0].isdigit()]
            got = T.readability(text, method, lang, ws, n)
            if not plain:
                assert got is None
                continue
            n_sent = max(1, n)
            if method == "rix":
                rix = sum(len(w) >= 7 for w in plain) / n_sent
                assert got == T.Readability("rix", round(rix, 2), max(0.0, min(1.0, 1 - rix / 7)))
            else:
                count = T.syllables_fr if lang == "fr" else T.syllables_en
                asl, asw = len(plain) / n_sent, sum(map(count, plain)) / len(plain)
                value = (207 - 1.015 * asl - 73.6 * asw) if method == "kandel_moles" else (
                    206.835 - 1.015 * asl - 84.6 * asw)
                assert got == T.Readability(method, round(value, 1), max(0.0, min(1.0, value / 100)))
        assert D.amounts(folded) == _plain_amounts(folded), text
        assert D.questions(text) == (_plain_questions(text) if "?" in text else [])
        invoice = [] if D._INVOICE_HINT.search(text) is None else [m.span() for m in D._INVOICE.finditer(text)]
        assert D.invoice_refs(text) == invoice
        assert D._invoice_hint(text) == D._invoice_hint_plain(text) == (D._INVOICE_HINT.search(text) is not None)
        other = T.fold(rng.choice(TEXTS))
        assert echo_spans(folded, other) == _plain_echo(folded, other)
        said = {_stem(w) for w in _CONTENT_WORD.findall(other) if w not in _STOP}
        assert _echo_by_char(folded, said) == _plain_echo(folded, other)


def test_invoice_hint_is_the_plain_one_on_its_pieces():
    """`detectors._invoice_hint` (substring checks) answers as `_INVOICE_HINT` on texts made of its alternatives,
    their near misses (another case, another accent, a space, a combining accent) and filler, in every order."""
    rng = random.Random(29)
    pieces = ["n°", "N°", "n °", "numero", "numéro", "Numero", "Numéro", "NUMERO", "nume\u0301ro", "number", "Number",
              "NUMBER", "numbers", "#", "no.", "No.", "NO.", "no ", "o.", "F-12", "F12", "f-12", "AB/7", "A-", "12/3", "1-",
              "-3", "um", "umero", "°", "n", "N", "e", " ", ".", "a", "1", "Z", "/", "-", "é", "uméro", "umber"]
    checked = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        expected = D._INVOICE_HINT.search(text) is not None
        assert D._invoice_hint(text) == D._invoice_hint_plain(text) == expected, repr(text)
        checked += expected
    assert 500 < checked < 2900  # both answers are exercised


def test_readability_behaves_as_the_frozen_dataclass_it_was():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Readability:
        method: str
        value: float
        ease: float

    for args in (("kandel_moles", 78.3, 0.783), ("rix", 2.5, 0.64), ("flesch", -12.0, 0.0), ("rix", 0.0, 1.0)):
        got, reference = T.Readability(*args), Readability(*args)
        assert repr(got) == repr(reference).replace(type(reference).__qualname__, "Readability")
        assert hash(got) == hash(reference)
        assert (got.method, got.value, got.ease) == args
        assert got == T.Readability(*args) and got != T.Readability(args[0], args[1] + 1, args[2])
        assert got != reference and got != args  # another class: not equal (as two dataclasses)


@pytest.mark.parametrize("rubric_id", rubric_golden.RUBRICS)
def test_probe_literals_and_gate_masks_are_the_plain_ones(rubric_id):
    """The probe's literals (a bit mask) are every gate literal the folded turn holds, found with `in`; a
    gate checked on masks (`gate_mask`) passes exactly when `passes` passes on that set."""
    from simulator.rubric.gate import DIGIT, passes

    for lang in ("fr", "en"):
        scorer = Scorer(resolve_rubric(rubric_id), lang)
        for index, probe_of in ((scorer.literals, scorer.probe), (scorer.cue_literals, scorer.probe_debtor)):
            gates = {gate for owner_id in index.owner_masks
                     for owner in [o for o in _owners(scorer) if id(o) == owner_id] for _r, gate, _g in owner.parts}
            for text in TEXTS[::3]:
                folded = T.fold(text)
                plain = {lit for lit in index.bits if lit != DIGIT and lit in folded}
                if DIGIT in index.bits and any(c in "0123456789" for c in folded):
                    plain.add(DIGIT)
                probe = probe_of(text)
                assert probe.hits == plain, text
                for gate in gates:
                    need, multi = index.gate_mask(gate)
                    by_mask = probe.mask & need == need and all(probe.mask & m for m in multi)
                    assert by_mask == passes(gate, plain), (gate, text)


def _owners(scorer) -> list:
    return [o for o in [i.regex for i in scorer.indicators] + [s.regex for s in scorer.stages]
            + [x for r in scorer.rules for x in (r.regex, r.trigger, r.unless, *r.near)]
            + list(scorer.cues.values()) + list(scorer.builtin.values()) if o is not None]


@pytest.mark.parametrize("rubric_id", rubric_golden.RUBRICS)
def test_gates_pass_on_every_match(rubric_id):
    """A text made to match a pattern (its spaces widened to runs of whitespace, words around it) passes
    the pattern's literal gate and the ungated alternation's: a gate only ever skips texts that cannot match."""
    from simulator.rubric.gate import passes, substrings_pass

    rng = random.Random(5)
    sampler = rubric_golden._Sampler(rng)
    checked = 0
    for lang in ("fr", "en"):
        scorer = Scorer(resolve_rubric(rubric_id), lang)
        owners = {id(o): o for o in [i.regex for i in scorer.indicators] + [s.regex for s in scorer.stages]
                  + [x for r in scorer.rules for x in (r.regex, r.trigger, r.unless)] + list(scorer.cues.values())
                  + list(scorer.builtin.values()) if o is not None}.values()
        for owner in owners:
            gated = [(source, part) for source, part in zip(owner.sources, owner.parts)]
            for source, (regex, gate, group) in gated:
                body = source[3:-len(")(?!\\w)")]
                for _ in range(3):
                    sample = sampler.sample(body)
                    if not sample:
                        continue
                    widened = re.sub(" ", lambda m: rng.choice([" ", "  ", "\n", " \t "]), sample)
                    text = rng.choice(["", "ok ", "bon, "]) + widened + rng.choice(["", " merci", "."])
                    folded = T.fold(text)
                    if not _plain_spans(owner, folded):
                        continue
                    probe = (scorer.probe_debtor if owner in scorer.cues.values() else scorer.probe)(text)
                    if re.compile(source).search(folded):
                        assert passes(gate, probe.hits), (source, text)
                        checked += 1
            if owner.rest is not None:
                for _ in range(3):
                    sample = sampler.sample(owner.sources[-1][3:-len(")(?!\\w)")])
                    if sample and re.compile(owner.sources[-1]).search(T.fold(sample)):
                        assert substrings_pass(owner.rest_gate, T.fold(sample)), (owner.sources[-1], sample)
    assert checked > 200



def test_probe_is_the_same_once_its_word_tables_are_full(monkeypatch):
    """The per-word tables stop growing at a bound; words seen after that are read the slow way."""
    monkeypatch.setenv(matcher.MODE_ENV, "literal")  # (the literal gates' tables)
    text = "Je comprends, la facture F-7781 de 2 350 € est due vendredi 15/12 ? Merci."
    expected = Scorer(resolve_rubric("fr-default")).probe(text)
    scorer = Scorer(resolve_rubric("fr-default"))
    index = scorer.literals
    for i in range(200_000):
        index._opened_by_word[f"filler{i}"] = frozenset()
        index._lits_by_word[f"filler{i}"] = frozenset()
    probe = scorer.probe(text)
    assert (probe.hits, probe.found) == (expected.hits, expected.found)
    assert "facture" not in index._lits_by_word  # not kept: the bound holds


# phrases around a negation: clause breaks (signs and words), conditions, words that only look like negations
_NEGATION_PHRASES = [
    "n oubliez pas", "n hesitez surtout pas", "ne manquez pas", "sans oublier", "rien ne vous empeche",
    "ne nous empechent pas", "on ne vous demande que", "n est que pas", "don t forget", "mais", "sinon", "or",
    "alors", "donc", "but", "then", "else", "otherwise", "si", "s il", "s  ils", "tant que", "a moins", "if",
    "unless", "as long as", "ne", "n", "pas", "jamais", "aucun", "not", "never", "no", "cannot", "won t",
    "vous", "payez", "poursuites", ",", ";", ":", ".", "!", "?", "\n", "\t", "\xa0", "mais,", "orage",
    "donc.", "quelque", "que", "empeche", "ordre",
]


def test_negation_window_equals_its_plain_version():
    """`_negated` (rewritten searches, last clause break by `rfind`, `_NOT_NEGATING` behind its hints) answers as
    the first version does at every position of the corpus texts and of texts made of negation phrases."""
    rng = random.Random(5)
    texts = [T.fold(text) for text in TEXTS]
    texts += [" ".join(rng.choice(_NEGATION_PHRASES) for _ in range(rng.randint(1, 14))) for _ in range(400)]
    checked = negated = 0
    for lang, negation in _NEGATION.items():
        search = searcher(negation.pattern)
        for folded in texts:
            for start in range(len(folded) + 1):
                plain = _negated_plain(folded, start, negation)
                assert _negated(folded, start, search) == plain, (lang, folded, start)
                checked += 1
                negated += plain
    assert negated > 1000 and checked - negated > 1000  # both answers were exercised


def test_not_negating_matches_hold_a_hint():
    """Every match of `_NOT_NEGATING` holds one of `_NOT_NEGATING_HINTS` (`_negated` skips it otherwise)."""
    rng = random.Random(6)
    found = 0
    for _ in range(3000):
        text = " ".join(rng.choice(_NEGATION_PHRASES) for _ in range(rng.randint(1, 8)))
        for m in _NOT_NEGATING.finditer(text):
            found += 1
            assert any(hint in m.group() for hint in _NOT_NEGATING_HINTS), m.group()
    assert found > 500


def test_sentence_and_question_counts_equal_their_plain_versions():
    """`_sentence_of` (the last boundary by `rfind`) and `_at_least` (the option and question words of a question,
    rewritten searches that stop once enough are found) answer as the first versions did."""
    rng = random.Random(8)
    words = ["ou", "or", "quand", "combien", "comment", "pourquoi", "quel", "quelle", "when", "how", "why", "which",
             "what", "oui", "pour", "quelque", "ouvert", ".", "?", "!", "\n", "vous", "payez", "ou?", "-or-", "d ou"]
    texts = [T.fold(text) for text in TEXTS]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(0, 16))) for _ in range(400)]
    counted = 0
    for folded in texts:
        for start in range(len(folded) + 1):
            end = min(len(folded), start + rng.randint(0, 6))
            assert _sentence_of(folded, start, end) == _sentence_of_plain(folded, start, end), (folded, start, end)
        for n in (1, 2, 3, 4):
            assert _at_least(_OPTION_SEARCH, folded, n) == (len(_OPTION.findall(folded)) >= n), (folded, n)
            assert _at_least(_ASKWORD_SEARCH, folded, n) == (len(_ASKWORD.findall(folded)) >= n), (folded, n)
        counted += len(_OPTION.findall(folded)) >= 2 and len(_ASKWORD.findall(folded)) >= 3
    assert counted > 20
