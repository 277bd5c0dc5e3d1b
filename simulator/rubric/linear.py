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

`tests/test_rubric_learned.py` checks both routes, compiled and not, against the feature strings training
builds (`learned.agent_features`) and a float computation, and the values against scikit-learn. Compiled
with mypyc with the scorer's other hot modules (`native.HOT`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from librt.vecs import append, vec
from mypy_extensions import i64

# a sentence of a turn (the evidence for a flag is the sentence that weighs most)
SENTENCE: Final = re.compile(r"[^.!?;:\n]+")
_BASE: Final = 37  # a stem's letters as digits: a-z are 1-26, 0-9 are 27-36
_MAX_CODED: Final = 12  # 37**12 < 2**63: longer stems are looked up as strings
_ABSENT: Final = -1
_LIMIT: Final = 2 ** 30  # |idf| and |weight| in 1/scale: a product fits an i64 (the sums are Python ints)
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
    """An open-addressing hash table from positive integers to rows (`_ABSENT` when missing), packed."""

    def __init__(self, items: dict[int, int]) -> None:
        size = 8
        while size < 2 * len(items):
            size *= 2
        self.mask: i64 = size - 1
        keys = vec[i64]([0] * size)  # 0: an empty slot (keys are positive)
        values = vec[i64]([_ABSENT] * size)
        for key, value in items.items():
            if key <= 0 or key >= 2 ** 62:
                raise ValueError(f"table key {key} out of range")
            slot: i64 = _spread(key) & self.mask
            while keys[slot] != 0:
                slot = (slot + 1) & self.mask
            keys[slot] = key
            values[slot] = value
        self.keys = keys
        self.values = values

    def get(self, key: i64) -> i64:
        keys = self.keys
        mask = self.mask
        slot: i64 = _spread(key) & mask
        while True:
            k = keys[slot]
            if k == key:
                return self.values[slot]
            if k == 0:
                return _ABSENT
            slot = (slot + 1) & mask


def _spread(key: i64) -> i64:
    return key ^ (key >> 13) ^ (key >> 29) ^ (key >> 47)


class LinearTable:
    """One model's vocabulary as tables, ready to score folded turns (the packed or the plain route)."""

    def __init__(self, vocabulary: dict[str, list[Any]], bias: list[float], stem: int, window: int,
                 debtor: bool, scale: int, packed: bool | None = None) -> None:
        """`vocabulary`: feature → [idf, weight of each category], each a whole number of 1/`scale` (the model
        file's rows, in its order). `packed`: which route (None: the packed one when compiled; tests pick)."""
        self.bias: list[float] = [float(b) for b in bias]
        self.scale: float = float(scale)
        self.width: i64 = 1 + len(self.bias)  # a row: idf², then one value per category
        self.stem: i64 = stem
        self.window: i64 = window
        self.debtor: bool = debtor
        self.packed: bool = (COMPILED if packed is None else packed) and stem <= _MAX_CODED
        self.pattern: re.Pattern[str] = stem_pattern(stem)
        ids: dict[str, int] = {}  # every stem the vocabulary names (alone or in a pair): a number
        uni: dict[int, int] = {}  # stem number → row of the stem alone
        pairs: dict[tuple[int, int], int] = {}
        said: dict[str, int] = {}  # the debtor's stem → row
        data: list[int] = []  # per row: idf², then idf × each weight (in 1/scale², exact)
        for row, (feature, values) in enumerate(vocabulary.items()):
            if len(values) != self.width or not all(type(v) is int for v in values):
                raise ValueError(f"feature {feature!r}: expected {self.width} whole numbers, got {values!r}")
            idf: int = values[0]
            if not 0 < idf < _LIMIT:
                raise ValueError(f"feature {feature!r}: idf {idf} out of range")
            data.append(idf * idf)
            for value in values[1:]:
                w: int = value
                if not -_LIMIT < w < _LIMIT:
                    raise ValueError(f"feature {feature!r}: weight {w} out of range")
                data.append(idf * w)
            if feature.startswith("d:"):
                said[feature[2:]] = row
            elif "_" in feature:
                a, _, b = feature.partition("_")
                pairs[(ids.setdefault(a, len(ids)), ids.setdefault(b, len(ids)))] = row
            else:
                uni[ids.setdefault(feature, len(ids))] = row
        self.size: i64 = max(1, len(ids))
        # the plain route: the feature strings (as training builds them) and one tuple per row
        plain = not self.packed
        self.index: dict[str, int] = {f: row for row, f in enumerate(vocabulary)} if plain else {}
        self.tuples: list[tuple[int, ...]] = [
            tuple(data[r * self.width:(r + 1) * self.width]) for r in range(len(vocabulary))] if plain else []
        # the packed route (a stem no folded text can give, e.g. longer than `stem` letters, is left out)
        use = self.packed
        self.codes = IntTable({stem_code(s): i for s, i in ids.items() if use and _reachable(s, stem)})
        self.said = IntTable({stem_code(s): row for s, row in said.items() if use and _reachable(s, stem)})
        self.uni = vec[i64]([uni.get(i, _ABSENT) for i in range(len(ids))] if use else [])
        self.pairs = IntTable({a * self.size + b + 1: row for (a, b), row in pairs.items()} if use else {})
        self.data = vec[i64](data if use else [])

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
        found: set[int] = set()
        get = self.index.get
        for feature in features:
            row = get(feature, _ABSENT)
            if row >= 0:
                found.add(row)
        return sorted(found)

    def _numbers(self, text: str, start: i64, end: i64) -> vec[i64]:
        """The number of each word's stem in text[start:end] (`_ABSENT` for a stem the vocabulary lacks)."""
        out = vec[i64]()
        codes = self.codes
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
                out = append(out, codes.get(code))
                code = 0
                length = 0
        if length:
            out = append(out, codes.get(code))
        return out

    def _packed_rows(self, folded: str, debtor_folded: str, start: i64, end: i64) -> vec[i64]:
        numbers = self._numbers(folded, start, end)
        found = vec[i64]()
        uni = self.uni
        for a in numbers:
            if a >= 0:
                row = uni[a]
                if row >= 0:
                    found = append(found, row)
        n = len(numbers)
        pairs = self.pairs
        size = self.size
        for gap in range(1, self.window + 1):
            for j in range(n - gap):
                a = numbers[j]
                if a >= 0:
                    b = numbers[j + gap]
                    if b >= 0:
                        row = pairs.get(a * size + b + 1)
                        if row >= 0:
                            found = append(found, row)
        if self.debtor and debtor_folded:
            said = self.said
            code: i64 = 0
            length: i64 = 0
            stem = self.stem
            for i in range(len(debtor_folded)):
                d: i64 = _digit(ord(debtor_folded[i]))
                if d:
                    if length < stem:
                        code = code * _BASE + d
                    length += 1
                elif length:
                    row = said.get(code)
                    if row >= 0:
                        found = append(found, row)
                    code = 0
                    length = 0
            if length:
                row = said.get(code)
                if row >= 0:
                    found = append(found, row)
        return _sorted_unique(found)

    # --- the decision values --------------------------------------------------------------------------------
    def decisions(self, folded: str, debtor_folded: str = "") -> list[float]:
        """The decision value of each category (before the sigmoid)."""
        if self.packed:
            return self._packed_values(self._packed_rows(folded, debtor_folded, 0, len(folded)))
        return self._plain_values(self._plain_rows(folded, debtor_folded, 0, len(folded)))

    def values(self, rows: list[int]) -> list[float]:
        """The decision values of a set of feature rows (ascending, each once: as `rows` gives them)."""
        if self.packed:
            return self._packed_values(vec[i64](rows))
        return self._plain_values(rows)

    # (both routes: exact sums of whole numbers, then the same float operations: the same values to the last bit)
    def _packed_values(self, rows: vec[i64]) -> list[float]:
        if len(rows) == 0:
            return list(self.bias)
        data = self.data
        width = self.width
        norm = 0
        for r in rows:
            norm += data[r * width]
        scale = self.scale * math.sqrt(float(norm))
        out: list[float] = []
        bias = self.bias
        for c in range(1, width):
            total = 0
            for r in rows:
                total += data[r * width + c]
            out.append(bias[c - 1] + float(total) / scale)
        return out

    def _plain_values(self, rows: list[int]) -> list[float]:
        if not rows:
            return list(self.bias)
        tuples = self.tuples
        columns = iter(zip(*[tuples[r] for r in rows]))
        scale = self.scale * math.sqrt(float(sum(next(columns))))
        return [b + float(sum(column)) / scale for b, column in zip(self.bias, columns)]

    def evidence(self, folded: str, indices: list[int]) -> list[tuple[int, int]]:
        """For each category of `indices`: the span of the sentence of the turn that weighs most for it (the
        first of equals; the whole turn when no sentence has two characters)."""
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
                values = self._packed_values(self._packed_rows(folded, "", s, e))
            else:
                values = self._plain_values(self._plain_rows(folded, "", s, e))
            for k, index in enumerate(indices):
                value = values[index]
                if first or value > best[k]:
                    best[k] = value
                    spans[k] = (s, e)
            first = False
        return spans


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
