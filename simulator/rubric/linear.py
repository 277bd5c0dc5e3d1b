"""The learned violation detector's scoring at run time (`learned.py`): its linear model as packed tables.

A turn's features are word stems (the first `stem` letters of each run of `[a-z0-9]` of the folded turn),
pairs of stems at most `window` words apart (`a_b`) and the stems of the debtor's line before it (`d:a`).
Each feature of the model's vocabulary has a row: idf², then idf × the weight of each category. A turn's
decision value for a category is its bias plus the sum of its features' rows in that column, divided by the
square root of the sum of their idf² (scikit-learn's TF-IDF with binary counts and L2 norm, then the logistic
regression's dot product).

Exact sums: the model file gives idf and weights as whole millionths (`learned.SCALE`), so a row holds whole
numbers (idf², idf × weight, in 1/SCALE²) and a turn's sums of them are exact: the values depend neither on
the order the features are found in, nor on the route below, nor on the Python version. Only the last steps
(one square root, one division per category) are floating point, the same operations in every route.

Two routes to the same rows:
- **packed** (compiled by mypyc, stems of at most 12 letters): a turn touches some 60 rows of a model of
  thousands, and on a busy machine every dictionary entry and boxed number it reads is likely a cache miss.
  So what a turn reads is packed in `librt.vecs.vec` arrays, which mypyc compiles to plain C arrays: the rows
  are one array of 64-bit integers; a stem is read off the folded text as a number (its letters in base 37,
  exact up to 12 letters: no string is built) and looked up in an open-addressing table of integers
  (`IntTable`), as is a pair (the numbers of its two stems) and a stem of the debtor's line.
- **plain** (plain Python, where a loop over characters is slow; or longer stems): the feature strings, as
  training builds them, looked up in a dictionary; the rows as tuples.

Several models over the same features (the learned detector and the rubric's score model: same stems, window
and debtor's line) can share one table (`others`): a row then holds each model's idf and weights side by side
(zeros where a model lacks the feature), a turn's features are found once, and each model's sums are taken over
its own columns (`decisions_all`) — the same whole numbers as its own table's, so the same values.

`tests/test_rubric_learned.py` checks both routes, compiled and not, against the feature strings training
builds (`learned.agent_features`) and a float computation, and the values against scikit-learn. Compiled
with mypyc with the scorer's other hot modules (`native.HOT`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, cast

from librt.vecs import append, vec
from mypy_extensions import i32, i64

# a sentence of a turn (the evidence for a flag is the sentence that weighs most)
SENTENCE: Final = re.compile(r"[^.!?;:\n]+")
_BASE: Final = 37  # a stem's letters as digits: a-z are 1-26, 0-9 are 27-36
_MAX_CODED: Final = 12  # 37**12 < 2**63: longer stems are looked up as strings
_ABSENT: Final = -1
_LIMIT: Final = 2 ** 30  # |idf| and |weight| in 1/scale: each fits an i32, a product an i64 (sums: Python ints)
# the plain route's stacked rows: a product plus `_OFFSET` is below 2**62, so a field of 2**100 holds the sum of
# 2**38 rows (a turn has a few hundred)
_OFFSET: Final = 2 ** 61
_FIELD: Final = 100
_MASK: Final = 2 ** _FIELD - 1
# compiled by mypyc (a loop over characters is then fast: the packed route), or running as plain Python
COMPILED: Final = not __file__.endswith(".py")


def stem_pattern(n: int) -> re.Pattern[str]:
    """The first `n` letters of each word (`[a-z0-9]+`) of a folded text, as `findall` returns them."""
    return re.compile(r"([a-z0-9]{1,%d})[a-z0-9]*" % n)


def stem_code(stem: str) -> int:
    """A stem of `[a-z0-9]` letters as a number (its letters in base 37; one number per stem)."""
    code = 0
    for ch in stem:
        code = code * _BASE + _digit(ord(ch))
    return code


def _reachable(stem: str, n: int) -> bool:
    """Whether a stem can be read off a folded text: 1 to `n` letters of `[a-z0-9]`."""
    return 0 < len(stem) <= n and all(_digit(ord(ch)) for ch in stem)


def _digit(c: int) -> int:
    if 97 <= c <= 122:  # a-z
        return c - 96
    if 48 <= c <= 57:  # 0-9
        return c - 21
    return 0


class IntTable:
    """An open-addressing hash table from positive integers to `width` integers each, packed in one array (a
    key beside its values: a look-up reads one cache line, most of the time)."""

    def __init__(self, items: dict[int, tuple[int, ...]], width: int = 1) -> None:
        size = 8
        while size < 2 * len(items):
            size *= 2
        self.mask: i64 = size - 1
        self.stride: i64 = 1 + width
        slots = vec[i64]([0] * (size * self.stride))  # key 0: an empty slot (keys are positive)
        for key, values in items.items():
            if key <= 0 or key >= 2 ** 62 or len(values) != width:
                raise ValueError(f"table entry {key}: {values} out of range")
            slot: i64 = _spread(key) & self.mask
            while slots[slot * self.stride] != 0:
                slot = (slot + 1) & self.mask
            slots[slot * self.stride] = key
            for k, value in enumerate(values):
                slots[slot * self.stride + 1 + k] = value
        self.slots = slots

    def find(self, key: i64) -> i64:
        """Where the key's values start in `slots` (-1: no such key)."""
        slots = self.slots
        mask = self.mask
        stride = self.stride
        slot: i64 = _spread(key) & mask
        while True:
            k = slots[slot * stride]
            if k == key:
                return slot * stride + 1
            if k == 0:
                return _ABSENT
            slot = (slot + 1) & mask

    def get(self, key: i64) -> i64:
        """The key's (first) value, or -1."""
        at = self.find(key)
        return self.slots[at] if at >= 0 else _ABSENT


def _spread(key: i64) -> i64:
    return key ^ (key >> 13) ^ (key >> 29) ^ (key >> 47)


class LinearTable:
    """One model's vocabulary as tables, ready to score folded turns (the packed or the plain route); or several
    models over the same features (`others`): a turn's features are then found once for all of them."""

    def __init__(self, vocabulary: dict[str, list[Any]], bias: list[float], stem: int, window: int,
                 debtor: bool, scale: int, packed: bool | None = None,
                 others: list[tuple[dict[str, list[Any]], list[float]]] | None = None) -> None:
        """`vocabulary`: feature → [idf, weight of each category], each a whole number of 1/`scale` (the model
        file's rows, in its order). `packed`: which route (None: the packed one when compiled; tests pick).
        `others`: more models (vocabulary, bias) of the same features (stems, window, debtor's line, scale):
        one row per feature of any of them, the first model's features first, in its order (so its rows keep
        their numbers); a model lacking a feature has zeros there, which add nothing to its sums."""
        models = [(vocabulary, bias)] + list(others or [])
        self.bias: list[float] = [float(b) for b in bias]
        self.biases: list[list[float]] = [[float(b) for b in m_bias] for _v, m_bias in models]
        self.scale: float = float(scale)
        # a row: for each model, its idf (of the first column `starts[g]`), then its weights (`counts[g]`)
        starts: list[int] = []
        counts: list[int] = []
        width = 0
        for _v, m_bias in models:
            starts.append(width)
            counts.append(len(m_bias))
            width += 1 + len(m_bias)
        self.starts: list[int] = starts
        self.counts: list[int] = counts
        self.width: i64 = width
        self.stem: i64 = stem
        self.window: i64 = window
        self.debtor: bool = debtor
        self.packed: bool = (COMPILED if packed is None else packed) and stem <= _MAX_CODED
        self.pattern: re.Pattern[str] = stem_pattern(stem)
        features: dict[str, None] = dict.fromkeys(vocabulary)
        for m_vocabulary, _b in models[1:]:
            features.update(dict.fromkeys(m_vocabulary))
        ids: dict[str, int] = {}  # every stem the vocabulary names (alone or in a pair): a number
        uni: dict[int, int] = {}  # stem number → row of the stem alone
        pairs: dict[tuple[int, int], int] = {}
        said: dict[str, int] = {}  # the debtor's stem → row
        data: list[int] = []  # per row and model: idf², then idf × each weight (in 1/scale², exact)
        raw: list[int] = []  # per row and model: idf, then each weight (in 1/scale)
        for row, feature in enumerate(features):
            for m_vocabulary, m_bias in models:
                values = m_vocabulary.get(feature)
                if values is None:  # (another model's feature: nothing in this one's sums, nor in its norm)
                    data.extend([0] * (1 + len(m_bias)))
                    raw.extend([0] * (1 + len(m_bias)))
                    continue
                if len(values) != 1 + len(m_bias) or not all(type(v) is int for v in values):
                    raise ValueError(f"feature {feature!r}: expected {1 + len(m_bias)} whole numbers, got {values!r}")
                idf: int = values[0]
                if not 0 < idf < _LIMIT:
                    raise ValueError(f"feature {feature!r}: idf {idf} out of range")
                data.append(idf * idf)
                raw.append(idf)
                for value in values[1:]:
                    w: int = value
                    if not -_LIMIT < w < _LIMIT:
                        raise ValueError(f"feature {feature!r}: weight {w} out of range")
                    data.append(idf * w)
                    raw.append(w)
            if feature.startswith("d:"):
                said[feature[2:]] = row
            elif "_" in feature:
                a, _, b = feature.partition("_")
                pairs[(ids.setdefault(a, len(ids)), ids.setdefault(b, len(ids)))] = row
            else:
                uni[ids.setdefault(feature, len(ids))] = row
        n_rows = len(features)
        # the plain route: the feature strings (as training builds them) and one tuple per row
        plain = not self.packed
        self.index: dict[str, int] = {f: row for row, f in enumerate(features)} if plain else {}
        # a row as one Python integer: its values side by side, each shifted into its own `_FIELD`-bit field
        # (plus `_OFFSET`: never negative), so that one `sum` adds every column of many rows exactly
        self.stacked: list[int] = [
            sum((v + _OFFSET) << (_FIELD * c) for c, v in enumerate(data[r * width:(r + 1) * width]))
            for r in range(n_rows)] if plain else []
        # the packed route (a stem no folded text can give, e.g. longer than `stem` letters, is left out)
        # a stem → (its number, the row of the stem alone, where its pairs start in `partners`, how many);
        # a stem's pairs (a, b) are its partners b with their rows, by b: a small block read in a few lines
        use = self.packed
        by_first: dict[int, list[tuple[int, int]]] = {}
        for (first, second), row in pairs.items():
            by_first.setdefault(first, []).append((second, row))
        partners: list[int] = []
        blocks: dict[int, tuple[int, int]] = {}
        for first in sorted(by_first):
            blocks[first] = (len(partners) // 2, len(by_first[first]))
            for second, row in sorted(by_first[first]):
                partners += (second, row)
        self.codes = IntTable({stem_code(s): (i, uni.get(i, _ABSENT), *blocks.get(i, (0, 0)))
                               for s, i in ids.items() if use and _reachable(s, stem)}, 4)
        self.said = IntTable({stem_code(s): (row,) for s, row in said.items() if use and _reachable(s, stem)})
        self.partners = vec[i32](partners if use else [])
        self.data = vec[i32](raw if use else [])

    # --- the features of a text -----------------------------------------------------------------------------
    def rows(self, folded: str, debtor_folded: str = "", start: int = 0, end: int = -1) -> list[int]:
        """The rows of the features of folded[start:end] (and of the debtor's line before it), ascending,
        each once."""
        if end < 0:
            end = len(folded)
        if self.packed:
            return list(self._packed_rows(folded, debtor_folded, start, end))
        return self._plain_rows(folded, debtor_folded, start, end)

    def _plain_rows(self, folded: str, debtor_folded: str, start: int, end: int) -> list[int]:
        stems: list[str] = self.pattern.findall(folded, start, end)
        features = list(stems)
        join = "_".join
        for gap in range(1, self.window + 1):
            features += map(join, zip(stems, stems[gap:]))
        if self.debtor and debtor_folded:
            features += ["d:" + s for s in self.pattern.findall(debtor_folded)]
        found: set[int | None] = set(map(self.index.get, features))  # (one look-up per feature, in C)
        found.discard(None)
        return sorted(cast(set[int], found))

    def _find(self, text: str, start: i64, end: i64, table: IntTable) -> vec[i64]:
        """For each word of text[start:end]: where its stem's values are in `table` (-1: not there)."""
        out = vec[i64]()
        n = self.stem
        code: i64 = 0
        length: i64 = 0
        for i in range(start, end):
            d: i64 = _digit(ord(text[i]))
            if d:
                if length < n:
                    code = code * _BASE + d
                length += 1
            elif length:
                out = append(out, table.find(code))
                code = 0
                length = 0
        if length:
            out = append(out, table.find(code))
        return out

    def _packed_rows(self, folded: str, debtor_folded: str, start: i64, end: i64) -> vec[i64]:
        codes = self.codes
        slots = codes.slots
        found = vec[i64]()
        # each word: where its stem's values are in `slots` (-1: a stem the vocabulary lacks)
        words = self._find(folded, start, end, codes)
        for at in words:
            if at >= 0:
                row = slots[at + 1]
                if row >= 0:
                    found = append(found, row)
        n = len(words)
        partners = self.partners
        for gap in range(1, self.window + 1):
            for j in range(n - gap):
                a = words[j]
                if a >= 0:
                    b = words[j + gap]
                    if b >= 0:
                        count = slots[a + 3]
                        if count:
                            row = _partner(partners, slots[a + 2], count, slots[b])
                            if row >= 0:
                                found = append(found, row)
        if self.debtor and debtor_folded:
            said = self.said.slots
            for at in self._find(debtor_folded, 0, len(debtor_folded), self.said):
                if at >= 0:
                    found = append(found, said[at])
        return _sorted_unique(found)

    # --- the decision values --------------------------------------------------------------------------------
    def decisions(self, folded: str, debtor_folded: str = "") -> list[float]:
        """The decision value of each category (before the sigmoid) of the first model."""
        if self.packed:
            return self._packed_values(self._packed_rows(folded, debtor_folded, 0, len(folded)), 0)
        return self._plain_values(self._plain_rows(folded, debtor_folded, 0, len(folded)), 0)

    def decisions_all(self, folded: str, debtor_folded: str = "") -> list[list[float]]:
        """The decision values of every model of the table (the first, then `others`), the turn's features
        found once."""
        out: list[list[float]] = []
        if self.packed:
            packed_rows = self._packed_rows(folded, debtor_folded, 0, len(folded))
            for g in range(len(self.starts)):
                out.append(self._packed_values(packed_rows, g))
        else:
            plain_rows = self._plain_rows(folded, debtor_folded, 0, len(folded))
            for g in range(len(self.starts)):
                out.append(self._plain_values(plain_rows, g))
        return out

    def values(self, rows: list[int], model: int = 0) -> list[float]:
        """The decision values of a set of feature rows (ascending, each once: as `rows` gives them)."""
        if self.packed:
            return self._packed_values(vec[i64](rows), model)
        return self._plain_values(rows, model)

    # (both routes: exact sums of whole numbers, then the same float operations: the same values to the last bit)
    def _packed_values(self, rows: vec[i64], model: int) -> list[float]:
        bias = self.biases[model]
        if len(rows) == 0:
            return list(bias)
        data = self.data
        width = self.width
        start: i64 = self.starts[model]
        norm = 0
        for r in rows:
            idf = i64(data[r * width + start])
            norm += idf * idf
        if norm == 0:  # none of the model's features (only another model's)
            return list(bias)
        scale = self.scale * math.sqrt(float(norm))
        out: list[float] = []
        for c in range(1, 1 + self.counts[model]):
            total = 0
            for r in rows:
                base = r * width + start
                total += i64(data[base]) * i64(data[base + c])
            out.append(bias[c - 1] + float(total) / scale)
        return out

    def _plain_values(self, rows: list[int], model: int) -> list[float]:
        bias = self.biases[model]
        if not rows:
            return list(bias)
        total = sum(map(self.stacked.__getitem__, rows))  # every column at once (see `stacked`)
        offset = len(rows) * _OFFSET
        start = self.starts[model]
        sums = [((total >> (_FIELD * c)) & _MASK) - offset
                for c in range(start, start + 1 + self.counts[model])]  # (int, not i64)
        if sums[0] == 0:  # none of the model's features (only another model's)
            return list(bias)
        scale = self.scale * math.sqrt(float(sums[0]))
        return [b + float(column) / scale for b, column in zip(bias, sums[1:])]

    def evidence(self, folded: str, indices: list[int]) -> list[tuple[int, int]]:
        """For each category of `indices` (of the first model): the span of the sentence of the turn that weighs
        most for it (the first of equals; the whole turn when no sentence has two characters)."""
        best: list[float] = [0.0] * len(indices)
        spans: list[tuple[int, int]] = [(0, len(folded))] * len(indices)
        first = True
        for m in SENTENCE.finditer(folded):
            s, e = m.span()
            while s < e and folded[s] == " ":
                s += 1
            while e > s and folded[e - 1] == " ":
                e -= 1
            if e - s < 2:
                continue
            if self.packed:
                values = self._packed_values(self._packed_rows(folded, "", s, e), 0)
            else:
                values = self._plain_values(self._plain_rows(folded, "", s, e), 0)
            for k, index in enumerate(indices):
                value = values[index]
                if first or value > best[k]:
                    best[k] = value
                    spans[k] = (s, e)
            first = False
        return spans


def _partner(partners: vec[i32], first: i64, count: i64, b: i64) -> i64:
    """The row of the pair (a, b), given a's block of `count` (partner, row) entries from `first` (sorted by
    partner), or -1: a binary search."""
    low = first
    high = first + count
    while low < high:
        mid = (low + high) // 2
        x = i64(partners[2 * mid])
        if x < b:
            low = mid + 1
        elif x > b:
            high = mid
        else:
            return i64(partners[2 * mid + 1])
    return _ABSENT


def _sorted_unique(items: vec[i64]) -> vec[i64]:
    """The items in ascending order, each once (a Shell sort: no boxed numbers)."""
    n = len(items)
    gap: i64 = 1
    while gap < n // 3:
        gap = 3 * gap + 1
    while gap > 0:
        for i in range(gap, n):
            x = items[i]
            j = i
            while j >= gap and items[j - gap] > x:
                items[j] = items[j - gap]
                j -= gap
            items[j] = x
        gap //= 3
    out = vec[i64]()
    last: i64 = _ABSENT
    for x in items:
        if x != last:
            out = append(out, x)
            last = x
    return out
