"""The Hyperscan prefilter of the probe (simulator/rubric/matcher.py) never misses a part `re` would match.

The prefilter only decides which pattern parts `re` runs on a turn, so the scorer's output cannot change as
long as every part with a match is reported. That is checked here on the rewrite's tricky cases (whitespace
runs, classes that match whitespace and other characters, look-arounds, back-references, non-ASCII
characters, case-insensitive parts) and on texts made to match every part of every shipped rubric, in both
languages, with their spaces widened to runs of every kind of whitespace. How the prefilter is chosen,
built in the background, cached on disk and dropped on a failed scan is checked too. The golden and
fast-path tests run the whole scorer with and without it.
"""

from __future__ import annotations

import random
import re
import threading

import pytest

from simulator.rubric import gate as gate_module
from simulator.rubric import matcher as M
from simulator.rubric import text as T
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorer import Scorer
from tests import rubric_golden

pytestmark = pytest.mark.skipif(not M.available(), reason="hyperscan is not installed")

# every kind of whitespace a turn can hold, alone and in runs
WHITESPACE = [" ", "  ", "\n", " \t ", "\u00a0", "\u2003 ", "\r\n", "\x1c", "\u3000", "\u2028", " \x85"]


@pytest.fixture(scope="module")
def _module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hs-cache")


@pytest.fixture(autouse=True)
def _private_cache(_module_cache, monkeypatch):
    """Databases compiled here go to a directory of this module, not to the user's cache."""
    monkeypatch.setenv(M.CACHE_ENV, str(_module_cache))


def _reported(matcher, text: str) -> set[int]:
    found = matcher.scan(text, gate_module._collect)
    assert found is not None
    assert len(found) == len(set(found))  # single-match mode: a part is reported once
    return set(found)


def _matching(sources: list[str], text: str) -> set[int]:
    """The parts `re` finds anywhere in the text or in a part of it (a window, as `unless` runs)."""
    out = set()
    for n, source in enumerate(sources):
        regex = re.compile(source)
        if regex.search(text) or any(regex.search(text, a, b) for a, b in _windows(text)):
            out.add(n)
    return out


def _windows(text: str) -> list[tuple[int, int]]:
    cuts = [0] + [m.end() for m in re.finditer(r"[.!?\n]", text)] + [len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]


TRICKY = [
    r"(?:je\s+comprends(\s+bien)?)(?!\w)",  # a whitespace run between words: one byte
    r"(?:(c\s+est|voici)\s+(un|une)\s+(mise\s+en\s+demeure|relance))(?!\w)",
    r"(?:vous\s*avez)(?!\w)",  # optional whitespace
    r"(?:(par\s+mail)[^.?!]{0,20}(ne\s+compte))(?!\w)",  # a class matching whitespace and letters
    r"(?:(bon|ok)\W+(et\s+)?la\s+facture)(?!\w)",  # \W: punctuation and whitespace
    r"(?:[0-9]+\s*(€|euros))(?!\w)",  # a non-ASCII literal
    r"(?:[0-9][0-9 ]*\s*€)(?!\w)",
    r"(?:(?<!pouvez\s)(prevenir|informer)\s+(votre|vos)\s+\w+)(?!\w)",  # look-behind, \w+
    r"(?:^\W*(oui|ouais)\W*\?\W*$)(?!\w)",  # anchors
    r"(?:(?=\w)(\w+)\s+\1)(?!\w)",  # a back-reference
    r"(?:(?P<a>x)?y(?(a)z|w))(?!\w)",  # a conditional group
    r"(?:[\d]{2}\s+\d{2})(?!\w)",  # Unicode digits
    r"(?:\w{3}\s\s\w{2})(?!\w)",  # two single whitespace items in a row
    r"(?:a\s\s?b)",
    r"(?:(?i:facture)\s+[0-9]+)(?!\w)",  # case-insensitive: reported always
    r"(?:zz[\u0400-\u04ff]+)(?!\w)",  # a wide non-ASCII range: reported always
    r"(?:\s+fin)(?!\w)",  # whitespace first
    r"(?:fin\s*)",  # whitespace last
    r"(?:[^a-z\s]+\s+ok)",  # a negated class without whitespace
    r"(?:.{2,5}end)",  # any character
    r"(?:(?s:.)x)",
    r"(?:(ab)+\s+(cd|ef\s+gh)*\s*ij)",
    r"(?:a(?=b)b\s{2,3}c)",
    r"(?:x\s{0,2}y)",
]

TEXTS = [
    "Je comprends bien, c'est une relance.", "je  comprends", "je\ncomprends\tbien", "vousavez", "vous \u00a0 avez",
    "par mail, ça ne compte pas", "par mail. ne compte", "bon, et la facture", "ok la facture", "bon\n\nla facture",
    "12 €", "12€", "1 200 €", "١٢ euros", "pouvez prévenir vos proches", "prévenir votre банк",
    "  oui ? ", "oui?", "le le", "y w", "xyz", "٣٣ ٤٤", "abc  de", "abc \u2003de", "a b", "a  b", "a\u3000b",
    "FACTURE 12", "Facture 12", "zzжжж", " fin", "\nfin", "la fin ", "€€ ok", "éé ok", "abcdend", "\nx", "ab  ij",
    "abab cd ef gh ij", "abc  c", "ab\n\nc", "x  y", "x\u2028y", "x\x85y",
]


def test_the_rewrite_reports_every_part_re_matches_on_tricky_patterns():
    sources = list(TRICKY)
    matcher = M.build(sources)
    alphabet, expressions = M.rewrite(sources)
    assert expressions[TRICKY.index(r"(?:(?i:facture)\s+[0-9]+)(?!\w)")] is None  # reported always
    assert expressions[TRICKY.index(r"(?:zz[\u0400-\u04ff]+)(?!\w)")] is None
    # "je\s+comprends(\s+bien)?": the run between two words is exactly one space byte; the one opening the
    # optional group may also be none (it could continue a run before it)
    assert expressions[0] == r"\x6a\x65\x20\x63\x6f\x6d\x70\x72\x65\x6e\x64\x73(?:(?:\x20?\x62\x69\x65\x6e))?"
    rng = random.Random(11)
    texts = list(TEXTS)
    for text in TEXTS:  # the same texts with their whitespace swapped for other kinds and runs
        texts.append(re.sub(r"\s+", lambda m: rng.choice(WHITESPACE), text))
    reported_somewhere = set()
    for text in texts:
        folded = T.fold(text)
        reported = _reported(matcher, folded)
        missing = _matching(sources, folded) - reported
        assert not missing, (text, [sources[n] for n in missing])
        reported_somewhere |= reported
    # and it is a filter: most parts are not reported on most texts
    assert sum(len(_reported(matcher, T.fold(t))) for t in texts) < 0.5 * len(texts) * len(sources)


def test_whitespace_runs_become_one_space():
    alphabet = M.Alphabet.of({"€"})
    every = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert set(every) == set(M._WHITESPACE)  # all of them are below U+3001
    for ch in every:
        assert alphabet.encode(f"a{ch}b") == b"a b", repr(ch)
        assert alphabet.encode(f"a {ch}{ch} b") == b"a b", repr(ch)
    assert alphabet.encode("  a  b ") == b" a b "
    assert alphabet.encode("12 €, ж ٣ ☺") == bytes([0x31, 0x32, 0x20, 0x80, 0x2C, 0x20, 0xFE, 0x20, 0xFD, 0x20, 0xFF])


@pytest.mark.parametrize("rubric_id", rubric_golden.RUBRICS)
def test_every_part_of_the_shipped_rubrics_is_reported_where_it_matches(rubric_id, monkeypatch):
    """Texts made to match each part (the golden corpus's sampler), spaces widened to runs of any
    whitespace, words around: the part is reported, and so is every other part (of a sample) that matches."""
    monkeypatch.setenv(M.MODE_ENV, "literal")  # the scorer only lists the parts; the matcher is built here
    rng = random.Random(17)
    sampler = rubric_golden._Sampler(rng)
    checked = 0
    for lang in ("fr", "en"):
        scorer = Scorer(resolve_rubric(rubric_id), lang)
        for index in (scorer.literals, scorer.cue_literals):
            sources = index.sources
            matcher = M.build(sources)
            compiled = [re.compile(s) for s in sources]
            for n, source in enumerate(sources):
                body = source[3:-len(")(?!\\w)")] if source.endswith(")(?!\\w)") else source
                for _ in range(2):
                    sample = sampler.sample(body)
                    if not sample:
                        continue
                    widened = re.sub(" ", lambda m: rng.choice(WHITESPACE), sample)
                    text = T.fold(rng.choice(["", "ok ", "Bon, "]) + widened + rng.choice(["", " merci", ".", "\n"]))
                    if not compiled[n].search(text):
                        continue
                    reported = _reported(matcher, text)
                    assert n in reported, (source, text)
                    for other in rng.sample(range(len(sources)), min(40, len(sources))):
                        if compiled[other].search(text):
                            assert other in reported, (sources[other], text)
                    checked += 1
    assert checked > 300


def test_the_scorer_scores_the_same_with_and_without_the_prefilter(monkeypatch):
    turns = rubric_golden.load_inputs()["turns"]
    pairs = [pair for group in ("fr", "synthetic_fr", "weird") for pair in turns[group][::3]]
    outputs = {}
    for chosen in ("hyperscan", "literal"):
        monkeypatch.setenv(M.MODE_ENV, chosen)
        scorer = Scorer(resolve_rubric("fr-default"))
        assert (scorer.literals.matcher is not None) == (chosen == "hyperscan"), scorer.literals.matcher_state
        session = scorer.session()
        out = []
        for debtor, agent in pairs:
            out.append(session.hear(debtor))
            out.append(session.score(agent).to_json())
            out.append(scorer.score_isolated(agent, debtor, segment="b2c").to_json())
        outputs[chosen] = out
    assert outputs["hyperscan"] == outputs["literal"]


def test_literal_mode_and_a_missing_package_keep_the_literal_gates(monkeypatch):
    monkeypatch.setenv(M.MODE_ENV, "literal")
    scorer = Scorer(resolve_rubric("en-us"))
    assert scorer.literals.matcher is None
    assert scorer.literals.matcher_state == f"literal gates ({M.MODE_ENV}=literal)"
    assert scorer.probe("I understand, the invoice is $300.").reported is None
    monkeypatch.setenv(M.MODE_ENV, "hyperscan")
    monkeypatch.setattr(M, "_hs", None)
    scorer = Scorer(resolve_rubric("en-us"))
    assert scorer.literals.matcher is None
    assert scorer.literals.matcher_state == "literal gates (hyperscan not installed)"


def test_auto_mode_compiles_in_the_background_then_reads_the_disk_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(M.CACHE_ENV, str(tmp_path / "hs-cache"))
    monkeypatch.setenv(M.MODE_ENV, "auto")
    monkeypatch.setattr(M, "_BUILDS", {})
    gate_open = threading.Event()
    real_compile = M._compile

    def slow_compile(expressions, ids):
        gate_open.wait(30)
        return real_compile(expressions, ids)

    monkeypatch.setattr(M, "_compile", slow_compile)
    text = "Je comprends, la facture F-7781 de 2 350 € est due vendredi 15/12 ? Merci."
    scorer = Scorer(resolve_rubric("fr-default"), "en")  # (a smaller database: English patterns)
    index = scorer.literals
    assert index.matcher is None and "compiling" in index.matcher_state
    early = scorer.probe(text)  # meanwhile: the literal gates
    assert early.reported is None
    gate_open.set()
    assert M.wait(index, timeout=60)
    assert index.matcher_state.endswith("prefilter")
    late = scorer.probe(text)
    assert late.reported is not None and late.found == early.found
    assert list((tmp_path / "hs-cache").glob("*.hsdb"))

    # another process (a fresh build table) reads the database back instead of compiling
    monkeypatch.setattr(M, "_BUILDS", {})
    monkeypatch.setattr(M, "_compile", lambda *a: pytest.fail("compiled again instead of reading the cache"))
    again = Scorer(resolve_rubric("fr-default"), "en")
    assert again.literals.matcher is not None
    assert again.probe(text).found == early.found


def test_a_failed_scan_falls_back_to_the_literal_gates(monkeypatch):
    monkeypatch.setenv(M.MODE_ENV, "hyperscan")
    scorer = Scorer(resolve_rubric("fr-default"))
    text = "Je comprends, la facture F-7781 de 2 350 € est due vendredi 15/12 ? Merci."
    expected = scorer.probe(text)
    assert expected.reported is not None

    class Broken:
        def scan(self, *args, **kwargs):
            raise M._hs.ScratchInUseError("busy")

    monkeypatch.setattr(scorer.literals.matcher, "database", Broken())
    probe = scorer.probe(text)
    assert probe.reported is None
    assert probe.found == expected.found


def test_threads_scan_with_their_own_scratch_space(monkeypatch):
    monkeypatch.setenv(M.MODE_ENV, "hyperscan")
    scorer = Scorer(resolve_rubric("fr-default"))
    turns = [agent for _debtor, agent in rubric_golden.load_inputs()["turns"]["fr"]]
    expected = [scorer.score_isolated(t).to_json() for t in turns]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [scorer.score_isolated(t).to_json() for t in turns]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[k] == expected for k in range(4))


def test_detector_hints_are_reported_wherever_the_detectors_first_checks_pass(monkeypatch):
    """A detector is skipped when the prefilter reports none of its hints (detectors.HINTS): each hint must
    be reported wherever the check it stands for passes (on the folded or on the original turn)."""
    from simulator.rubric import detectors as D

    monkeypatch.setenv(M.MODE_ENV, "hyperscan")
    scorer = Scorer(resolve_rubric("fr-default"))
    rng = random.Random(23)
    pieces = ["F-7781", "f/12", "INV 2024-118", "n° 12", "N°12", "numéro 7", "Numero 7", "number 9", "#12", "No. 5",
              "no.5", "12/03", "3-4", "2 350 €", "€2,350", "£40", "$5", "40 euros", "deux mille dollars", "USD 4",
              "GBP", "livres sterling", "٣٤", "３４", "x²", "A‐1", "B–2", "a\u00a01", "Eur", "pound", "1", "Z9"]
    texts = [agent for pair in rubric_golden.load_inputs()["turns"]["fr"][::2] for agent in pair]
    for _ in range(300):
        texts.append(" ".join(rng.choice(pieces + ["le", "montant", "ok", ",", "."]) for _ in range(rng.randint(1, 6))))
    checked = 0
    for text in texts:
        folded = T.fold(text)
        probe = scorer.probe(text)
        assert probe.hints >= 0
        if D._first_digit(folded) is not None or D._first_digit(text) is not None:
            assert not probe.lacks(D.HINT_DIGIT), text
            checked += 1
        if D._CURRENCY_HINT.search(folded):
            assert not probe.lacks(D.HINT_CURRENCY), text
        if any(hint.search(text) for hint in D._INVOICE_HINT_SEARCHES):
            assert not probe.lacks(D.HINT_INVOICE), text
        # and the detectors, skipped or not, find what they find
        assert _detect_of(scorer, "amount", text, probe) == D.amounts(folded)
        assert _detect_of(scorer, "invoice_ref", text, probe) == D.invoice_refs(text)
    assert checked > 100


def _detect_of(scorer, name, text, probe):
    from simulator.rubric.scorer import _detect

    return _detect(scorer, name, text, probe, {})


def test_the_disk_cache_keeps_the_latest_databases(tmp_path, monkeypatch):
    import os

    cache = tmp_path / "hs-cache"
    cache.mkdir()
    monkeypatch.setenv(M.CACHE_ENV, str(cache))
    for n in range(M._CACHE_FILES + 10):  # databases left behind by older rubrics
        old = cache / f"{n:064x}.hsdb"
        old.write_bytes(b"{}\n")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    assert M.build([r"(?:je\s+comprends)(?!\w)"]) is not None
    kept = sorted(cache.glob("*.hsdb"))
    assert len(kept) == M._CACHE_FILES
    assert (cache / f"{0:064x}.hsdb") not in kept  # the oldest went first
    assert M.build([r"(?:je\s+comprends)(?!\w)"]).database is not None  # the new one is read back
