"""Text measures for the scorer: folding that keeps offsets, sentences, words, readability.

`fold` maps every character to exactly one character (lower case, no accent,
apostrophes and hyphens as spaces, "…" as "."), so a match in the folded text
has the same character span in the original turn: evidence spans point at what
the trainee actually wrote.
"""

from __future__ import annotations

from typing import Final

import codecs
import re
import unicodedata
from encodings.cp1252 import decoding_table as _CP1252_DECODING, encoding_table as _CP1252_ENCODING
from functools import lru_cache

# compiled by mypyc (a loop over characters is then fast), or running as plain Python (then `re` is faster)
COMPILED: Final = not __file__.endswith(".py")

_SPECIAL: Final = {
    "’": " ", "'": " ", "‘": " ", "`": " ", "-": " ", "‐": " ", "‑": " ", "–": " ", "—": " ",
    "…": ".", "«": '"', "»": '"', "“": '"', "”": '"', "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "œ": "o", "æ": "a", "ß": "s",  # one character each; patterns write "coeur" as "c.eur" if they care
}


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c in _SPECIAL:
        return _SPECIAL[c]
    low = c.lower()
    if len(low) != 1:  # e.g. "İ".lower() has two code points
        low = low[0]
    if low.isascii():
        return low
    base = "".join(ch for ch in unicodedata.normalize("NFKD", low) if not unicodedata.combining(ch))
    if len(base) == 1:
        return base
    if low in _SPECIAL:
        return _SPECIAL[low]
    return low


_ASCII_FOLD: Final = str.maketrans({"'": " ", "-": " ", "`": " "})


class _FoldTable(dict):
    """str.translate table filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD: Final = _FoldTable()


def _cp1252_table() -> tuple[bytes, str]:
    """`fold` as a byte table over Windows-1252, the one-byte code page of French and English typing
    (accents, ’ “ ” « » … – — œ €): each of its characters folds to one of its characters, except those
    returned (folded the slow way)."""
    table = bytearray(range(256))
    slow = []
    for b in range(256):
        try:
            c = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:  # five bytes have no character: no text encodes to them
            continue
        try:
            table[b] = _fold_char(c).encode("cp1252")[0]
        except UnicodeEncodeError:  # "µ" folds to the Greek "μ"
            slow.append(c)
    return bytes(table), "".join(slow)


_CP1252_TABLE: Final = _cp1252_table()
_CP1252_FOLD: Final = _CP1252_TABLE[0]
_CP1252_SLOW: Final = _CP1252_TABLE[1]


def fold(text: str) -> str:
    """Lower case, accents removed, one output character per input character."""
    if text.isascii():
        return text.lower().translate(_ASCII_FOLD)
    try:  # a byte table is much faster than `str.translate` with a dict
        encoded = codecs.charmap_encode(text, "strict", _CP1252_ENCODING)[0]
    except UnicodeEncodeError:
        return text.translate(_FOLD)
    for c in _CP1252_SLOW:
        if c in text:
            return text.translate(_FOLD)
    return codecs.charmap_decode(encoded.translate(_CP1252_FOLD), "strict", _CP1252_DECODING)[0]


def fold_pattern(pattern: str) -> str:
    """Fold a trainer's pattern the way `fold` folds the text; spaces match any run of spaces."""
    pattern = pattern.strip()  # the scorer adds the word boundaries; an edge space would forbid them
    out = []
    escaped = in_class = skip = False
    for i, c in enumerate(pattern):
        if skip:  # the "?" or "*" of an optional space, already written
            skip = False
            continue
        if escaped:
            out.append(c)
            escaped = False
            continue
        if c == "\\":
            out.append(c)
            escaped = True
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(_fold_char(c) if c.isalpha() else c)
            continue
        if c == "[":
            in_class = True
            out.append(c)
        elif c in "'’‘ ":
            if pattern[i + 1:i + 2] in ("?", "*"):  # "[0-9]+ ?€": an optional space, not a lazy "\s+?"
                out.append(r"\s*")
                skip = True
            else:
                out.append(r"\s+")
        elif c == "-" and 0 < i < len(pattern) - 1 and pattern[i - 1].isalpha() and pattern[i + 1].isalpha():
            out.append(r"\s+")  # "peut-être": a hyphen between letters is a space in the folded text
        else:
            out.append(_fold_char(c) if c.isalpha() else c)
    return re.sub(r"(\\s\+)+", r"\\s+", "".join(out))


_WORD: Final = re.compile(r"[^\W\d_]+(?:[’'][^\W\d_]+)*|\d+(?:[.,\s]\d+)*")
_SENTENCE_END: Final = re.compile(r"[.!?…]+(?=\s|$)|\n+")


def words(text: str) -> list[str]:
    """`_WORD.findall(text)`: compiled, read character by character (`_words_by_char`); in plain Python,
    where such a loop is slow, by `re` (with the Windows-1252 form of the pattern when the text fits it)."""
    if COMPILED:
        return _words_by_char(text)
    if text.isascii() or _in_cp1252(text):
        return _WORD_CP1252.findall(text)
    return _WORD.findall(text)


def _words_by_char(text: str) -> list[str]:
    """`_WORD.findall(text)`, read character by character (`_kind`): a letter run with its apostrophe-joined
    letter runs, or a digit run with its separator-joined digit runs."""
    out: list[str] = []
    n = len(text)
    i = 0
    while i < n:
        k = _kind(text, i)
        if k & _K_LETTER:
            j = i + 1
            while j < n and _kind(text, j) & _K_LETTER:
                j += 1
            while j + 1 < n and _kind(text, j) & _K_APOSTROPHE and _kind(text, j + 1) & _K_LETTER:
                j += 2
                while j < n and _kind(text, j) & _K_LETTER:
                    j += 1
            out.append(text[i:j])
            i = j
        elif k & _K_DIGIT:
            j = i + 1
            while j < n and _kind(text, j) & _K_DIGIT:
                j += 1
            while j + 1 < n and _kind(text, j) & _K_GROUP and _kind(text, j + 1) & _K_DIGIT:
                j += 2
                while j < n and _kind(text, j) & _K_DIGIT:
                    j += 1
            out.append(text[i:j])
            i = j
        else:
            i += 1
    return out


# What `_WORD` and `_SENTENCE_END` see of a character, as bits: each asked of `re` itself
# (so Unicode's rules are `re`'s), once per character: a byte table for the first 256, a dictionary beyond.
_K_LETTER: Final = 1  # [^\W\d_]
_K_DIGIT: Final = 2  # \d
_K_GROUP: Final = 4  # [.,\s]: between two digit groups of one number
_K_APOSTROPHE: Final = 8  # [’']: between two letter runs of one word
_K_ALNUM: Final = 16  # [^\W_]: a sentence holds a word
_K_SPACE: Final = 32  # \s
_K_STOP: Final = 64  # [.!?…]
_K_NEWLINE: Final = 128  # \n
_KIND_TESTS: Final = ((_K_LETTER, re.compile(r"[^\W\d_]")), (_K_DIGIT, re.compile(r"\d")),
                      (_K_GROUP, re.compile(r"[.,\s]")), (_K_APOSTROPHE, re.compile(r"[’']")),
                      (_K_ALNUM, re.compile(r"[^\W_]")), (_K_SPACE, re.compile(r"\s")),
                      (_K_STOP, re.compile(r"[.!?…]")), (_K_NEWLINE, re.compile(r"\n")))


def _kind_of(c: str) -> int:
    k = 0
    for bit, test in _KIND_TESTS:
        if test.fullmatch(c) is not None:
            k |= bit
    return k


_KINDS: Final = bytes(_kind_of(chr(o)) for o in range(256))
_KINDS_WIDE: Final[dict[str, int]] = {}


def _kind(text: str, i: int) -> int:
    o = ord(text[i])
    if o < 256:
        return _KINDS[o]
    c = text[i]
    k = _KINDS_WIDE.get(c)
    if k is None:
        k = _kind_of(c)
        if len(_KINDS_WIDE) < 100_000:
            _KINDS_WIDE[c] = k
    return k


def _in_cp1252(text: str) -> bool:
    try:
        codecs.charmap_encode(text, "strict", _CP1252_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _cp1252_class(regex: re.Pattern) -> str:
    """A character class of the Windows-1252 characters `regex` matches (as ranges)."""
    chars = []
    for b in range(256):
        try:
            c = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            continue
        if regex.match(c):
            chars.append(c)
    chars.sort()
    out, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        first, last = (("\\" + c if c in "\\]^-[" else c) for c in (chars[i], chars[j]))
        out.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return "[" + "".join(out) + "]"


# `_WORD` for a text of Windows-1252 characters: the same classes listed character by character, which
# `re` tests faster than the Unicode categories of `[^\W\d_]` (same words, a third faster)
_CP1252_LETTER: Final = _cp1252_class(re.compile(r"[^\W\d_]"))
_CP1252_DIGIT: Final = _cp1252_class(re.compile(r"\d"))
_WORD_CP1252: Final = re.compile(rf"{_CP1252_LETTER}+(?:[’']{_CP1252_LETTER}+)*|{_CP1252_DIGIT}+(?:[.,\s]{_CP1252_DIGIT}+)*")


def sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if _WORD.search(p)]


# The same splits as `_SENTENCE_END`, written to start with a character class: `re` then skips the
# positions that cannot start a match instead of trying each one (3-4 times faster).
_SENTENCE_END_FAST: Final = re.compile(r"[.!?…\n](?:(?<=[.!?…])[.!?…]*(?=\s|$)|(?<=\n)\n*)")
_HAS_WORD: Final = re.compile(r"[^\W_]")  # a letter or a digit: where `_WORD` finds a word


def sentence_count(text: str) -> int:
    """len(sentences(text)), without building the sentences (compiled: character by character)."""
    if COMPILED:
        return _sentence_count_by_char(text)
    search = _HAS_WORD.search
    return sum(1 for part in _SENTENCE_END_FAST.split(text) if search(part))


def _sentence_count_by_char(text: str) -> int:
    """len(sentences(text)): the parts `_SENTENCE_END.split(text)` gives that hold a letter or a digit (where
    `_WORD` finds a word), read character by character (`_kind`). A separator is a run of `.!?…` followed
    by whitespace or the end (a run followed by anything else is not one, nor any part of it), or a run of
    newlines."""
    n = len(text)
    count = 0
    has_word = False
    i = 0
    while i < n:
        k = _kind(text, i)
        if k & _K_STOP:
            j = i + 1
            while j < n and _kind(text, j) & _K_STOP:
                j += 1
            if j == n or _kind(text, j) & _K_SPACE:
                if has_word:
                    count += 1
                has_word = False
            i = j
        elif k & _K_NEWLINE:
            j = i + 1
            while j < n and _kind(text, j) & _K_NEWLINE:
                j += 1
            if has_word:
                count += 1
            has_word = False
            i = j
        else:
            if k & _K_ALNUM:
                has_word = True
            i += 1
    if has_word:
        count += 1
    return count


_LETTER: Final = re.compile(r"[^\W\d_]")
_UPPER: Final = re.compile(r"[A-ZÀ-ÖØ-ÞŒŸ]")


def upper_ratio(text: str) -> tuple[float, int]:
    """Share of upper-case letters (Latin scripts), and the number of letters."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return 0.0, 0
    return len(_UPPER.findall(text)) / letters, letters


_LETTER_COUNTS: Final[dict[str, tuple[int, int]]] = {}  # word -> (letters, upper-case letters)


def _cp1252_bytes(regex: re.Pattern) -> bytes:
    """The Windows-1252 bytes whose character `regex` matches."""
    out = bytearray()
    for b in range(256):
        try:
            if regex.match(bytes([b]).decode("cp1252")):
                out.append(b)
        except UnicodeDecodeError:
            pass
    return bytes(out)


_CP1252_LETTERS: Final = _cp1252_bytes(_LETTER)
_CP1252_UPPERS: Final = _cp1252_bytes(_UPPER)


def upper_ratio_fast(text: str, ws: list[str]) -> tuple[float, int]:
    """`upper_ratio(text)` (`ws`: the text's words): a text typed in Windows-1252 is counted on its bytes."""
    try:
        encoded = codecs.charmap_encode(text, "strict", _CP1252_ENCODING)[0]
    except UnicodeEncodeError:
        return upper_ratio_of_words(ws)
    n = len(encoded)
    letters = n - len(encoded.translate(None, _CP1252_LETTERS))
    if not letters:
        return 0.0, 0
    return (n - len(encoded.translate(None, _CP1252_UPPERS))) / letters, letters


def upper_ratio_of_words(ws: list[str]) -> tuple[float, int]:
    """`upper_ratio(text)` from the text's `words(text)`: every letter of a text is in one of its words
    (a letter starts a word and a word runs over letters), so counting them word by word, each word
    counted once per process, gives the same figures."""
    letters = uppers = 0
    counts = _LETTER_COUNTS
    for w in ws:
        c = counts.get(w)
        if c is None:
            c = (len(_LETTER.findall(w)), len(_UPPER.findall(w)))
            if len(counts) < 200_000:
                counts[w] = c
        letters += c[0]
        uppers += c[1]
    if not letters:
        return 0.0, 0
    return uppers / letters, letters


_VOWELS_FR: Final = "aeiouyàâäéèêëîïôöûùüÿœæ"
_VOWEL_GROUP_FR: Final = re.compile(rf"[{_VOWELS_FR}]+")
_VOWEL_GROUP_EN: Final = re.compile(r"[aeiouy]+")


@lru_cache(maxsize=65536)
def syllables_fr(word: str) -> int:
    """French syllables by vowel groups; a final mute -e/-es/-ent does not count."""
    w = word.lower()
    if len(w) <= 3:
        return max(1, len(_VOWEL_GROUP_FR.findall(w)))
    n = len(_VOWEL_GROUP_FR.findall(w))
    if re.search(rf"[^{_VOWELS_FR}](e|es|ent)$", w) and n > 1:
        n -= 1
    return max(1, n)


@lru_cache(maxsize=65536)
def syllables_en(word: str) -> int:
    w = fold(word)
    n = len(_VOWEL_GROUP_EN.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee")) and n > 1:
        n -= 1
    return max(1, n)


_SYLLABLES_FR: Final[dict[str, int]] = {}
_SYLLABLES_EN: Final[dict[str, int]] = {}


class Readability:
    """A readability measure: its method, its value, and `ease`, normalised: 0 (very hard) … 1 (very easy), for the
    clarity score. Read-only by convention; equal, hashed and shown as the frozen dataclass it was (a dataclass's
    generated `__init__` stays interpreted in the compiled module: this one is compiled)."""

    def __init__(self, method: str, value: float, ease: float) -> None:
        self.method = method
        self.value = value
        self.ease = ease

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Readability):
            return NotImplemented
        return (self.method, self.value, self.ease) == (other.method, other.value, other.ease)

    def __hash__(self) -> int:
        return hash((self.method, self.value, self.ease))

    def __repr__(self) -> str:
        return f"Readability(method={self.method!r}, value={self.value!r}, ease={self.ease!r})"


def readability(text: str, method: str, lang: str, ws: list[str] | None = None,
                n_sentences: int | None = None) -> Readability | None:
    """Kandel–Moles (French Flesch), Flesch (English) or RIX (long words per sentence)."""
    ws = [w for w in (words(text) if ws is None else ws) if not w[0].isdigit()]
    if not ws:
        return None
    n_sent = max(1, len(sentences(text)) if n_sentences is None else n_sentences)
    asl = len(ws) / n_sent
    if method == "rix":
        long_words = sum(len(w) >= 7 for w in ws)
        rix = long_words / n_sent
        # RIX 0-1 very easy … 7+ very hard
        return Readability("rix", round(rix, 2), max(0.0, min(1.0, 1 - rix / 7)))
    # syllables counted once per word and process (a plain dict: cheaper than the functions' lru_cache)
    counts = _SYLLABLES_FR if lang == "fr" else _SYLLABLES_EN
    total = 0
    for w in ws:
        n = counts.get(w)
        if n is None:
            n = syllables_fr(w) if lang == "fr" else syllables_en(w)
            if len(counts) < 200_000:
                counts[w] = n
        total += n
    asw = total / len(ws)
    if method == "kandel_moles":
        value = 207 - 1.015 * asl - 73.6 * asw
    else:  # flesch
        value = 206.835 - 1.015 * asl - 84.6 * asw
    return Readability(method, round(value, 1), max(0.0, min(1.0, value / 100)))
