"""Cheap pre-checks for the rubric's regular expressions, and a probe that runs them all at once.

Most indicator and rule patterns cannot match most turns. A pattern like
"je (vous )?comprends( bien)?" can only match a text that contains the
substring "comprends"; testing that with `in` costs a few tens of nanoseconds,
scanning an alternation of twenty phrases costs microseconds. `literal_gate`
reads the parsed pattern and returns sets of substrings, every match containing
one literal of each set (or None when it cannot tell): runs of literals (through
groups and repeated literals: "euh+" needs "euh"), single signs ("/"), and the
pseudo-literal DIGIT for a class of digits. The scorer runs a regex only when
its gate passes. The result is the same, only faster.

`LiteralIndex.probe` folds nothing itself (it takes the folded turn): it finds
every gate literal of the turn word by word (each word's literals and the
patterns they open are learnt once per process), then runs every opened
pattern of an eager owner (indicators, stages, prohibited rules) whose whole
gate passes. `searcher` rewrites a pattern `re` would try at every position so
that it skips to the characters a match can start with. Which patterns run
together as the ungated alternation is decided by the first version's rule
(`has_literal`): an alternation can match differently from its parts.

When the Hyperscan prefilter is there (`matcher.py`), the probe does not use the literal gates: one scan
of the turn reports the parts that may match, and only those are searched (`Probe.runnable` answers for
the other owners from the same report). The literal gates remain the way without it.

`tests/test_rubric_fastpaths.py` checks all of this against plain scans (with and without the prefilter),
and `tests/test_rubric_golden.py` the scorer's whole output.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Set as AbstractSet
from typing import Any, Final

from . import matcher as _matcher

# the parser of `re` (private modules of the standard library: typed Any, read only when a rubric is compiled)
_c: Any = importlib.import_module("re._constants")
_p: Any = importlib.import_module("re._parser")

_MIN: Final = 2
# frequent words make poor gates: when a pattern offers another literal, prefer it
_COMMON: Final = frozenset("""
je tu il elle on nous vous ils elles me te se le la les un une des de du au aux et ou est etes ai as a pas ne
que qui quoi ce ca cela c est pour par sur dans avec en y bien tout tous plus moins tres oui non mais donc
the a an to of and or is are you your i we it be do not for on in with at that this so can will me my our
""".split())

Gate = tuple[frozenset[str], ...]  # a match contains one literal of *each* set
# A pseudo-literal: "some ASCII digit". A class of digits ("[0-9]", "[0-9]{1,2}") promises one; a turn
# holds it when one of its words holds a digit. (No pattern can spell it: it starts with a NUL.)
DIGIT: Final = "\x00digit"
_DIGITS: Final = frozenset("0123456789")


def _digit_class(av) -> bool:
    """An IN set (not negated) of ASCII digits only."""
    if not av:
        return False
    for kind, value in av:
        if kind is _c.LITERAL and 48 <= value <= 57:
            continue
        if kind is _c.RANGE and 48 <= value[0] <= value[1] <= 57:
            continue
        return False
    return True


def _selectivity(lits: frozenset[str]) -> float:
    return min((2 if x == DIGIT else len(x) - (3 if x in _COMMON else 0)) for x in lits)


def _flat(items) -> list:
    """The items of a sequence, groups without flags opened up (a group matches its items in a row)."""
    out = []
    for op, av in items:
        if op is _c.SUBPATTERN and not av[1] and not av[2]:
            out.extend(_flat(av[-1].data))
        else:
            out.append((op, av))
    return out


def _single(run: str) -> bool:
    """A one-character literal worth a gate: a sign (not a word character, not a space), found with `in`."""
    return len(run) == 1 and _WORD.fullmatch(run) is None and not run.isspace()


def _candidates(items, minimum: int = _MIN, digits: bool = True, extended: bool = True) -> list[frozenset[str]]:
    """Sets of literals (at least `minimum` characters, or one sign), each of which every match must hit.
    `extended=False, digits=False`: the first version's sets (which decide how patterns are grouped, see
    `has_literal`)."""
    candidates: list[frozenset[str]] = []
    run = ""

    def flush():
        nonlocal run
        if len(run) >= minimum or (extended and _single(run)):
            candidates.append(frozenset([run]))
        run = ""

    for op, av in (_flat(items) if extended else items):
        if op is _c.LITERAL:
            run += chr(av)
            continue
        if extended and op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1 and av[2].data and all(
                sub_op is _c.LITERAL for sub_op, _ in _flat(av[2].data)):
            # "euh+": the text holds the literals once at least, right after the run: "euh"; what follows
            # comes right after their last repetition
            repeated = "".join(chr(v) for _, v in _flat(av[2].data))
            run += repeated
            flush()
            run = repeated
            continue
        flush()
        if op is _c.SUBPATTERN:
            candidates.extend(_candidates(av[-1].data, minimum, digits, extended))
        elif op is _c.BRANCH:
            best = [_best(_candidates(branch.data, minimum, digits, extended)) for branch in av[1]]
            if best and all(best):
                candidates.append(frozenset().union(*[b for b in best if b is not None]))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            low, _high, sub = av
            if low >= 1:
                candidates.extend(_candidates(sub.data, minimum, digits, extended))
        elif op is _c.IN and digits and _digit_class(av):
            candidates.append(frozenset([DIGIT]))
        # anything else (other classes, anchors, look-arounds) promises no literal
    flush()
    return candidates


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    return max(candidates, key=_selectivity) if candidates else None


def literal_gate(pattern: str, keep: int = 3, extended: bool = True) -> Gate | None:
    """Sets of substrings: every match of `pattern` contains one literal of each set (None: no gate)."""
    try:
        parsed = _p.parse(pattern)
    except Exception:  # noqa: BLE001 - an unparsable pattern simply gets no gate
        return None
    candidates = sorted(set(_candidates(parsed.data, _MIN, extended, extended)), key=_selectivity, reverse=True)
    return tuple(candidates[:keep]) or None


def has_literal(pattern: str) -> bool:
    """Whether the first version of `literal_gate` found a literal in `pattern`. The scorer runs the patterns
    without one together, as one alternation: which patterns those are must not change (an alternation
    can match differently from its parts run one by one), however good the gates become."""
    try:
        parsed = _p.parse(pattern)
    except Exception:  # noqa: BLE001
        return False
    return bool(_candidates(parsed.data, _MIN, False, False))


def char_gate(pattern: str, keep: int = 3) -> Gate | None:
    """Like `literal_gate`, single characters allowed, no pseudo-literal: for a pattern run on every turn,
    checked with `in` on the text (`substrings_pass`)."""
    try:
        parsed = _p.parse(pattern)
    except Exception:  # noqa: BLE001
        return None
    candidates = sorted(set(_candidates(parsed.data, 1, False, False)), key=_selectivity, reverse=True)
    return tuple(candidates[:keep]) or None


def substrings_pass(gate: Gate | None, text: str) -> bool:
    if gate is None:
        return True
    for lits in gate:
        for lit in lits:
            if lit in text:
                break
        else:
            return False
    return True


def passes(gate: Gate, hits: AbstractSet[str]) -> bool:
    for lits in gate:
        if lits.isdisjoint(hits):
            return False
    return True


_WORD: Final = re.compile(r"\w+")


class _Part:
    """An eager part of a `LiteralIndex`: a pattern run in the probe when its whole gate passes."""

    def __init__(self, owner: int, regex: re.Pattern[str], need: int, multi: tuple[int, ...],
                 again: frozenset[str] | None, again_bits: tuple[tuple[str, int], ...], group: int) -> None:
        self.owner = owner  # the owner's key (`id`)
        self.regex = regex
        self.need = need  # the bits of the gate's other one-literal sets: all must be hit
        self.multi = multi  # the gate's other sets of several literals, as masks: each must be hit
        # the first set when it holds no pseudo-literal: a further match needs one of them further on
        self.again = again
        self.again_bits = again_bits  # its literals with their bits
        self.group = group  # the group holding the span (see `searcher`)


class LiteralIndex:
    """The gated pattern parts of a set of compiled patterns, indexed by the literals of their gates.

    `owners` are compiled alternatives (the scorer's `_Re`: `.parts` = ((regex, gate, group), …)). A turn's
    probe finds every gate literal it contains in one pass over its words (each word's literals, and the
    parts they open, are learnt once: the vocabulary of calls is small), then runs the regex of every
    part of an `eager` owner whose whole gate passes, at once; other owners' parts are run when asked.

    The literals a turn holds are one integer, a bit per literal of the index (`bits`); a gate is checked
    with masks (`gate_mask`): what `passes(gate, hits)` does on the set of literals.
    """

    def __init__(self, owners: Iterable[Any] = (), eager: AbstractSet[int] = frozenset(),
                 hints: tuple[str, ...] = ()) -> None:
        unique = list({id(o): o for o in owners if o is not None}.values())
        literals: set[str] = set()
        for owner in unique:
            for _regex, gate, _group in owner.parts:
                for lits in gate:
                    literals.update(lits)
        # short literals first: they are the frequent ones, and a turn's mask stays short
        self.bits: dict[str, int] = {lit: 1 << n for n, lit in enumerate(sorted(literals, key=lambda x: (len(x), x)))}
        self.owner_masks: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        opens: dict[str, set[int]] = {}
        self.parts: list[_Part] = []  # the eager parts, by number
        sources: list[str] = []  # every part's plain pattern, by number: the eager parts, then the others
        for owner in unique:
            self.owner_masks[id(owner)] = [self.gate_mask(gate) for _regex, gate, _group in owner.parts]
            if id(owner) not in eager:
                continue
            for k, (regex, gate, group) in enumerate(owner.parts):
                number = len(self.parts)
                need, multi = self.gate_mask(gate[1:])
                again = None if DIGIT in gate[0] else gate[0]
                again_bits = tuple((lit, self.bits[lit]) for lit in sorted(again)) if again is not None else ()
                self.parts.append(_Part(id(owner), regex, need, multi, again, again_bits, group))
                sources.append(owner.sources[k])
                for lit in gate[0]:
                    opens.setdefault(lit, set()).add(number)
        # each owner's parts by number (the prefilter reports numbers)
        self.owner_numbers: dict[int, tuple[int, ...]] = {}
        number = 0
        for owner in unique:
            if id(owner) in eager:
                self.owner_numbers[id(owner)] = tuple(range(number, number + len(owner.parts)))
                number += len(owner.parts)
        for owner in unique:
            if id(owner) not in eager:
                self.owner_numbers[id(owner)] = tuple(range(len(sources), len(sources) + len(owner.parts)))
                sources.extend(owner.sources[:len(owner.parts)])
        # patterns no owner runs, only reported by the prefilter (`Probe.lacks`): the detectors' hints
        self.hint_base = len(sources)
        sources.extend(hints)
        self.eager = frozenset(id(o) for o in unique if id(o) in eager)
        self.digit = DIGIT in literals
        literals.discard(DIGIT)
        self.word_literals = frozenset(lit for lit in literals if _WORD.fullmatch(lit))
        self.other_literals = tuple(sorted(lit for lit in literals if lit not in self.word_literals))
        self._others = tuple((lit, self.bits[lit], frozenset(opens.get(lit, ()))) for lit in self.other_literals)
        self._opens = {lit: frozenset(parts) for lit, parts in opens.items()}
        self.max_len = max((len(lit) for lit in self.word_literals), default=0)
        self._lits_by_word: dict[str, int] = {}  # word -> mask of its literals
        self._opened_by_word: dict[str, frozenset[int]] = {}
        # the Hyperscan prefilter (matcher.py): set now, later (built in the background), or never
        self.sources: list[str] = sources  # every part's pattern, by number (the prefilter compiles them)
        self.matcher: Any = None
        self.pending: Any = None
        self.matcher_state: str = "literal gates"
        _matcher.attach(self, sources)

    def gate_mask(self, gate: Gate) -> tuple[int, tuple[int, ...]]:
        """(the bits of the gate's one-literal sets, the masks of its other sets): `passes(gate, hits)` is
        `mask & need == need and all(mask & m for m in multi)` for the mask of `hits`."""
        need = 0
        multi = []
        for lits in gate:
            if len(lits) == 1:
                need |= self.bits[next(iter(lits))]
            else:
                m = 0
                for lit in lits:
                    m |= self.bits[lit]
                multi.append(m)
        return need, tuple(multi)

    def literals_of(self, mask: int) -> frozenset[str]:
        """The literals whose bits `mask` holds."""
        return frozenset(lit for lit, bit in self.bits.items() if mask & bit)

    def _learn(self, word: str) -> tuple[int, frozenset[int]]:
        """The literals inside one whitespace-separated token (a mask), and the eager parts they open."""
        lits, top, n = self.word_literals, self.max_len, len(word)
        found = {word[i:j] for i in range(n) for j in range(i + _MIN, min(n, i + top) + 1) if word[i:j] in lits}
        if self.digit and not _DIGITS.isdisjoint(word):
            found.add(DIGIT)
        mask = 0
        bits = self.bits
        for lit in found:
            mask |= bits[lit]
        opens = self._opens
        opened = frozenset().union(*[opens[lit] for lit in found if lit in opens])
        if len(self._lits_by_word) < 200_000:  # the vocabulary of calls is small; the bound is a safety net
            # (opened parts first: a word in `_lits_by_word` has its parts, for a probe in another thread)
            self._opened_by_word[word] = opened
            self._lits_by_word[word] = mask
        return mask, opened

    def hits(self, text: str) -> frozenset[str]:
        return self.probe(text).hits

    def probe(self, text: str) -> Probe:
        """`text` is folded. The parts that may match are those the prefilter reports (`matcher.py`), or
        without it those whose literal gates pass; every eager one of them is searched now."""
        m = self.matcher
        if m is None and self.pending is not None:
            m = _matcher.adopt(self)
        if m is not None:
            reported = m.scan(text, _collect)
            if reported is not None:
                return self._probe_reported(text, reported)
        return self._probe_literal(text)

    def _probe_reported(self, text: str, reported: list[int]) -> Probe:
        found: dict[int, list[tuple[int, int]]] = {}
        parts = self.parts
        n_eager = len(parts)
        hint_base = self.hint_base
        hints = 0
        for number in reported:
            if number >= n_eager:
                if number >= hint_base:
                    hints |= 1 << (number - hint_base)
                continue
            part = parts[number]
            regex = part.regex
            first = regex.search(text)
            if first is None:
                continue
            spans = _part_spans(part, text, first, -1)
            if spans:
                owner = part.owner
                if owner in found:
                    found[owner].extend(spans)
                else:
                    found[owner] = spans
        return Probe(text, -1, found, self, reported, hints)

    def literal_mask(self, text: str) -> int:
        """The bits of the gate literals the folded text holds (what the literal probe computes)."""
        mask = 0
        for word in set(text.split()):
            word_mask = self._lits_by_word.get(word)
            if word_mask is None:
                word_mask = self._learn(word)[0]
            mask |= word_mask
        for lit, bit, _opens in self._others:
            if lit in text:
                mask |= bit
        return mask

    def _probe_literal(self, text: str) -> Probe:
        """Word literals are made of word characters, so one lies inside a whitespace token exactly when it
        lies inside a run of word characters: splitting on spaces finds the same."""
        tokens = set(text.split())
        lits_by_word = self._lits_by_word
        opened_by_word = self._opened_by_word
        for word in tokens.difference(lits_by_word):  # words not seen before (rare after a few calls)
            self._learn(word)
        mask = 0
        opened: set[int] = set()
        try:
            for word in tokens:
                mask |= lits_by_word[word]
            opened = opened.union(*map(opened_by_word.__getitem__, tokens))  # in C: no Python step per word
        except KeyError:  # the tables are full and a word was not kept: read every word the slow way
            mask = 0
            for word in tokens:
                word_mask, word_opened = self._learn(word)
                mask |= word_mask
                opened |= word_opened
        for lit, bit, opens in self._others:
            if lit in text:
                mask |= bit
                opened |= opens
        found: dict[int, list[tuple[int, int]]] = {}
        parts = self.parts
        for number in opened:
            part = parts[number]
            need = part.need
            if mask & need != need:
                continue
            multi = part.multi
            if multi:
                missing = False
                for m in multi:
                    if not mask & m:
                        missing = True
                        break
                if missing:
                    continue
            regex = part.regex
            first = regex.search(text)
            if first is None:
                continue
            spans = _part_spans(part, text, first, mask)
            if spans:
                owner = part.owner
                if owner in found:
                    found[owner].extend(spans)
                else:
                    found[owner] = spans
        return Probe(text, mask, found, self, None, -1)


def _collect(number: int, start: int, end: int, flags: int, found: list[int]) -> None:
    """Hyperscan's callback: a part that may match (reported once: single-match mode)."""
    found.append(number)


def _part_spans(part: _Part, text: str, first: re.Match[str], mask: int) -> list[tuple[int, int]]:
    """Every match of an eager part, given its first one. `mask`: the gate literals the text holds (-1 when
    the probe did not compute them: then the literals are looked up in the text)."""
    group = part.group
    s, e = first.span(group)
    again = part.again
    if (again is not None and len(again) == 1 and (s == 0 or not (text[s - 1].isalnum() or text[s - 1] == "_"))
            and text.find(next(iter(again)), max(e, s + 1)) == -1):
        return [(s, e)]  # a match at a word start, and no literal left for another: just this one
    # a further match needs one of the first set's literals further on: those the text holds (without the gate
    # literals' mask, all of them: `_left` looks each up from where the search goes on, and a literal the text does
    # not hold is found nowhere, so its answers are the same; building the subset first costs a scan per literal)
    needs: AbstractSet[str] | None
    if again is None:
        needs = None
    elif mask == -1:
        needs = again
    else:
        needs = {lit for lit, bit in part.again_bits if mask & bit}
    return bounded(part.regex, text, 0, len(text), first, needs, group)


def bounded(regex: re.Pattern[str], text: str, start: int, end: int, m: re.Match[str] | None = None,
            needs: AbstractSet[str] | None = None, group: int = 0) -> list[tuple[int, int]]:
    """Every match of `regex` in text[start:end] that starts at a word boundary (`m`: the first search's
    result, when the caller already ran it; `needs`: literals one of which every match contains, so the
    search stops when none is left further on; `group`: the group holding the match, see `searcher`)."""
    spans = []
    search = regex.search
    if m is None:
        m = search(text, start, end)
    while m is not None:
        s, e = m.span(group)
        if s > 0:
            c = text[s - 1]
            if c.isalnum() or c == "_":  # starts inside a word ("rappel|le mercredi"): look again just after
                pos = s + 1
                m = search(text, pos, end) if _left(needs, text, pos) else None
                continue
        spans.append((s, e))
        pos = max(e, s + 1)
        m = search(text, pos, end) if _left(needs, text, pos) else None
    return spans


def _left(needs: AbstractSet[str] | None, text: str, pos: int) -> bool:
    """Whether one of `needs` occurs at or after `pos` (None: cannot tell, say yes)."""
    if needs is None:
        return True
    for lit in needs:
        if text.find(lit, pos) != -1:
            return True
    return False


class Probe:
    """A folded turn, the parts that may match it (`reported` by the prefilter, or the gate literals it
    contains, `mask`), and the matches of the eager parts among them."""

    def __init__(self, text: str, mask: int, found: dict[int, list[tuple[int, int]]], index: LiteralIndex,
                 reported: list[int] | None, hints: int) -> None:
        self.text = text
        self._mask = mask  # the bits (`index.bits`) of the gate literals the text holds; -1: not computed
        self.found = found  # owner key -> spans of its parts (unsorted, may overlap)
        self.index = index
        self.reported = reported  # the numbers of the parts the prefilter reported (None: no prefilter)
        self._reported_set: set[int] | None = None
        self.hints = hints  # the bits of the index's hints the prefilter reported; -1: no prefilter

    def lacks(self, hint: int) -> bool:
        """Whether the prefilter ran and did not report hint number `hint` (then the text cannot match it)."""
        return self.hints >= 0 and not (self.hints >> hint) & 1

    @property
    def mask(self) -> int:
        if self._mask < 0:
            self._mask = self.index.literal_mask(self.text)
        return self._mask

    def runnable(self, owner: int) -> list[int]:
        """The parts of `owner` (their positions in `owner.parts`) that may match the text: reported by the
        prefilter, or whose whole literal gate passes."""
        reported = self.reported
        if reported is not None:
            numbers = self._reported_set
            if numbers is None:
                numbers = self._reported_set = set(reported)
            return [k for k, number in enumerate(self.index.owner_numbers[owner]) if number in numbers]
        mask = self.mask
        out = []
        for k, (need, multi) in enumerate(self.index.owner_masks[owner]):
            if mask & need != need:
                continue
            missing = False
            for m in multi:
                if not mask & m:
                    missing = True
                    break
            if not missing:
                out.append(k)
        return out

    @property
    def hits(self) -> frozenset[str]:
        """The gate literals the text holds."""
        return self.index.literals_of(self.mask)

    def passes(self, gate: Gate | None) -> bool:
        return gate is None or passes(gate, self.hits)


# --- a faster search for patterns `re` cannot skip through ----------------------------------------------
# `re` searches quickly when a pattern starts with a literal or a character class: it skips the positions
# where that cannot match. A pattern starting with an optional part ("(un )?(petit )?geste") or a group of
# groups gets no such help: `re` tries a whole match at every position. Such a pattern P is rewritten as
#     [F](?<=(?=(P))(?s:.))
# where F holds every character a match of P can start with: `re` skips to a character of F, a
# look-behind steps back onto it and a look-ahead runs P there, capturing its match in group 1. P matches
# at a position exactly when the rewrite does, with the same span (group 1): the caller continues its
# search itself (`bounded`), so the one-character match of the rewrite changes nothing.
_FIRST_MAX: Final = 64  # a wider class skips little


def _class_chars(av) -> set[str] | None:
    chars: set[str] = set()
    for kind, value in av:
        if kind is _c.LITERAL:
            chars.add(chr(value))
        elif kind is _c.RANGE and value[1] - value[0] < _FIRST_MAX:
            chars.update(chr(x) for x in range(value[0], value[1] + 1))
        else:  # NEGATE, CATEGORY (\w, \s, \d), wide ranges: any character, or too many
            return None
    return chars


def _first(items) -> tuple[set[str] | None, bool]:
    """(the characters a match of this sequence can start with, whether it can match the empty string);
    None: cannot tell (any character)."""
    first: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            first.add(chr(av))
            return first, False
        if op is _c.IN:
            chars = _class_chars(av)
            if chars is None:
                return None, False
            return first | chars, False
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            continue  # zero-width: the next item starts the match (a superset of what can)
        if op is _c.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if add_flags & _c.SRE_FLAG_IGNORECASE:
                return None, False
            chars, empty = _first(sub.data)
        elif op is _c.BRANCH:
            chars, empty = set(), False
            for branch in av[1]:
                f, e = _first(branch.data)
                if f is None:
                    return None, False
                chars |= f
                empty = empty or e
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            low, _high, sub = av
            chars, empty = _first(sub.data)
            empty = empty or low == 0
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            chars, empty = _first(av.data)
        else:  # ANY, NOT_LITERAL, CATEGORY, group references…
            return None, False
        if chars is None:
            return None, False
        first |= chars
        if not empty:
            return first, False
    return first, True


def _fast_start(items) -> bool:
    """Whether `re` already skips through the text for this pattern (a literal or class first)."""
    while items and items[0][0] is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = items[0][1]
        if add_flags or del_flags:
            return False
        items = sub.data
    if not items:
        return False
    op, av = items[0]
    if op in (_c.LITERAL, _c.IN):
        return True
    if op is _c.BRANCH:
        return all(branch.data and branch.data[0][0] is _c.LITERAL for branch in av[1])
    return False


def _has(items, ops) -> bool:
    for op, av in items:
        if op in ops:
            return True
        subs = []
        if op is _c.SUBPATTERN:
            subs = [av[-1]]
        elif op is _c.BRANCH:
            subs = av[1]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            subs = [av[2]]
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            subs = [av[1]]
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            subs = [av]
        elif op is _c.GROUPREF_EXISTS:
            return True
        if any(_has(sub.data, ops) for sub in subs):
            return True
    return False


def searcher(pattern: str, word_start: bool = False) -> tuple[re.Pattern, int]:
    """`pattern` compiled for searching, and the group holding a match's span (0, or 1 when rewritten).

    `word_start`: a rewritten pattern also skips the matches that start right after a word character (a
    negative look-behind for one before the look-ahead), which `bounded` drops anyway: the spans it returns
    are the same, and `re` does not run the pattern inside every word holding one of its first letters. (A
    pattern left as it is keeps its fast start: a look-behind in front would stop `re` from skipping.)"""
    compiled = re.compile(pattern)
    try:
        parsed = _p.parse(pattern)
    except Exception:  # noqa: BLE001 - compiled above, so this does not happen; keep the plain pattern
        return compiled, 0
    if parsed.state.flags & _c.SRE_FLAG_IGNORECASE or _fast_start(parsed.data):
        return compiled, 0
    if _has(parsed.data, {_c.GROUPREF, _c.GROUPREF_EXISTS}):  # group numbers shift in the rewrite
        return compiled, 0
    first, empty = _first(parsed.data)
    if first is None or empty or not first or len(first) > _FIRST_MAX:
        return compiled, 0
    cls = "".join("\\" + c if c in "\\]^-[" else c for c in sorted(first))
    try:
        before = r"(?<!\w)" if word_start else ""
        return re.compile(f"[{cls}](?<={before}(?=({pattern}))(?s:.))"), 1
    except re.error:
        return compiled, 0


def finditer_spans(search: tuple[re.Pattern, int], text: str, pos: int = 0) -> list[tuple[int, int]]:
    """The spans of `re.compile(pattern).finditer(text, pos)`, for `search = searcher(pattern)`."""
    regex, group = search
    if group == 0:
        return [m.span() for m in regex.finditer(text, pos)]
    spans = []
    m = regex.search(text, pos)
    while m is not None:  # a rewritten pattern never matches the empty string: go on from the end
        s, e = m.span(1)
        spans.append((s, e))
        m = regex.search(text, e)
    return spans
