"""Cheap pre-checks for the rubric's regular expressions.

Most indicator and rule patterns cannot match most turns. A pattern like
"je (vous )?comprends( bien)?" can only match a text that contains the
substring "comprends"; testing that with `in` costs a few tens of nanoseconds,
scanning an alternation of twenty phrases costs microseconds. `literal_gate`
reads the parsed pattern and returns a set of substrings of which every match
contains at least one (or None when it cannot tell); the scorer runs the
regex only when the gate passes. The result is the same, only faster.
"""

from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _constants as _c, _parser as _p
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _c
    import sre_parse as _p

_MIN = 2
# frequent words make poor gates: when a pattern offers another literal, prefer it
_COMMON = frozenset("""
je tu il elle on nous vous ils elles me te se le la les un une des de du au aux et ou est etes ai as a pas ne
que qui quoi ce ca cela c est pour par sur dans avec en y bien tout tous plus moins tres oui non mais donc
the a an to of and or is are you your i we it be do not for on in with at that this so can will me my our
""".split())

Gate = tuple  # of frozensets: a match contains one literal of *each* set


def _selectivity(lits: frozenset[str]) -> float:
    return min(len(x) - (3 if x in _COMMON else 0) for x in lits)


def _candidates(items) -> list[frozenset[str]]:
    """Sets of literals, each of which every match must hit."""
    candidates: list[frozenset[str]] = []
    run = ""

    def flush():
        nonlocal run
        if len(run) >= _MIN:
            candidates.append(frozenset([run]))
        run = ""

    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        flush()
        if op is _c.SUBPATTERN:
            candidates.extend(_candidates(av[-1].data))
        elif op is _c.BRANCH:
            best = [_best(_candidates(branch.data)) for branch in av[1]]
            if best and all(best):
                candidates.append(frozenset().union(*best))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            low, _high, sub = av
            if low >= 1:
                candidates.extend(_candidates(sub.data))
        # anything else (classes, anchors, look-arounds) promises no literal
    flush()
    return candidates


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    return max(candidates, key=_selectivity) if candidates else None


def literal_gate(pattern: str, keep: int = 3) -> Gate | None:
    """Sets of substrings: every match of `pattern` contains one literal of each set (None: no gate)."""
    try:
        parsed = _p.parse(pattern)
    except Exception:  # noqa: BLE001 - an unparsable pattern simply gets no gate
        return None
    candidates = sorted(set(_candidates(parsed.data)), key=_selectivity, reverse=True)
    return tuple(candidates[:keep]) or None


def passes(gate: Gate, hits: set[str]) -> bool:
    for lits in gate:
        if lits.isdisjoint(hits):
            return False
    return True


_WORD = re.compile(r"\w+")


class LiteralIndex:
    """Finds, in one pass over a turn's words, every gate literal the turn contains."""

    def __init__(self, literals: set[str]):
        self.word_literals = frozenset(lit for lit in literals if _WORD.fullmatch(lit))
        self.other_literals = tuple(sorted(lit for lit in literals if lit not in self.word_literals))
        self.max_len = max((len(lit) for lit in self.word_literals), default=0)
        self._by_word: dict[str, frozenset[str]] = {}

    def _in_word(self, word: str) -> frozenset[str]:
        found = self._by_word.get(word)
        if found is None:
            lits, top, n = self.word_literals, self.max_len, len(word)
            found = frozenset(word[i:j] for i in range(n) for j in range(i + _MIN, min(n, i + top) + 1)
                              if word[i:j] in lits)
            if len(self._by_word) < 200_000:  # the vocabulary of calls is small; the bound is a safety net
                self._by_word[word] = found
        return found

    def hits(self, text: str) -> set[str]:
        found: set[str] = set()
        for word in set(_WORD.findall(text)):
            found.update(self._in_word(word))
        for lit in self.other_literals:
            if lit in text:
                found.add(lit)
        return found


class Probe:
    """A folded turn and the gate literals it contains."""

    __slots__ = ("text", "hits", "candidates")

    def __init__(self, text: str, index: LiteralIndex):
        self.text = text
        self.hits = index.hits(text)
        self.candidates: dict[int, list[int]] = {}  # filled by the scorer: pattern parts worth running

    def passes(self, gate: Gate | None) -> bool:
        return gate is None or passes(gate, self.hits)
