"""The demo's sung-syllable inventory and the rule that maps any lyric text onto it.

The demo codec's lyric codebook (codebook 0) holds, at every sung frame, one *syllable class*:
``(onset, vowel, coda)`` with 16 onsets x 12 vowels x 5 codas = :data:`NUM_SYLLABLES` (960)
classes. Syllable class ``s`` is written as codebook-0 id ``2 + s`` (see :mod:`.vocab`).

Classes are coarse on purpose: a small model sees each one often, every English word (and any
other Latin-letter word) maps to some sequence of them, and the synthesizer can sing each one
(onset consonant noise or formant colouring, then the vowel, diphthongs glide). The mapping is
lossy ("feel" and "fee" differ only in the coda class; "this" and "dis" are the same); token
error rates compare the prompt's syllables with the sung ones, both through this one rule.

Text to syllables (:func:`word_syllables`, :func:`text_syllables`):

1. Lower-case; digits become their English words ("2" -> "two"); every run of characters
   other than ``a-z`` separates words (apostrophes are dropped first: "don't" -> "dont").
2. A few whole words have fixed spellings (:data:`_RESPELL`: "love" -> "luv", "one" -> "wun"...)
   and ``tion``/``sion`` become ``shun``.
3. The word is read left to right into consonant classes and vowel classes by longest spelling
   first (:data:`_CONSONANTS`, :data:`_VOWELS`), with a few context rules: ``c`` before e/i/y
   is ``s``; ``y`` before a vowel at the start of a word is a glide and is dropped; a final
   silent ``e`` (after a consonant, with another vowel before it, optionally followed by ``s``
   or ``d``) is dropped and makes the vowel before a single consonant long (magic e: "time",
   "home"); a final consonant + ``le`` is its own syllable ("lit-tle").
4. Each vowel is one syllable. Between two vowels a single consonant starts the next syllable;
   of two or more, the first closes the previous syllable and the rest start the next one.
5. Onset class = the first consonant of the onset cluster ("str" -> ``s``, "tr" -> ``t``).
   Coda class = the first consonant of the coda cluster, grouped: m/n -> ``n``; stops -> ``t``;
   fricatives -> ``s``; l/r -> ``l``; anything else (h, w) -> open.
6. A word without any vowel letter ("hmm", "shh") is sung as one ``uh`` syllable.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: onset classes; "" is a vowel onset. "d" also stands for "th", "f" for "v"/"ph", "s" for "z",
#: "sh" for "ch"/"j"/"tch".
ONSETS = ("", "b", "d", "g", "p", "t", "k", "m", "n", "l", "r", "s", "sh", "f", "h", "w")
#: vowel classes: short ah/eh/ih/aw/uh, long ee/oo, diphthongs ay (day), ai (my), oh (go),
#: ow (now), oy (boy)
VOWELS = ("a", "e", "i", "o", "u", "ee", "oo", "ay", "ai", "oh", "ow", "oy")
#: coda classes: open, nasal, stop, fricative, liquid
CODAS = ("", "n", "t", "s", "l")

NUM_SYLLABLES = len(ONSETS) * len(VOWELS) * len(CODAS)

_ONSET_INDEX = {name: i for i, name in enumerate(ONSETS)}
_VOWEL_INDEX = {name: i for i, name in enumerate(VOWELS)}

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Whole words whose spelling the rules below get badly wrong, respelled phonetically.
_RESPELL = {
    "love": "luv", "loved": "luvd", "loves": "luvs", "lover": "luver", "above": "abuv",
    "one": "wun", "once": "wuns", "done": "dun", "none": "nun", "some": "sum", "come": "cum",
    "comes": "cums", "become": "becum", "give": "giv", "gives": "givs", "live": "liv",
    "have": "hav", "gone": "gon", "are": "ar", "were": "wer", "there": "thair",
    "where": "whair", "here": "heer", "the": "thuh", "a": "uh", "to": "too", "do": "doo",
    "you": "yoo", "your": "yoor", "who": "hoo", "what": "wut", "was": "wuz", "of": "uv",
    "eye": "ai", "eyes": "ais", "heart": "hart", "move": "moov", "prove": "proov",
    "whole": "hole", "said": "sed", "says": "sez", "again": "agen", "been": "bin",
    "friend": "frend", "friends": "frends", "people": "peepul", "through": "throo",
    "though": "thoh", "enough": "enuf", "laugh": "laf", "rough": "ruf", "tough": "tuf",
    "know": "noh", "knows": "nohs", "own": "ohn", "show": "shoh", "blue": "bloo", "true": "troo",
}

# Consonant spellings, longest first, to onset classes (tuples: several consonants).
_CONSONANTS = {
    "tch": ("sh",), "sch": ("s", "k"), "ch": ("sh",), "sh": ("sh",), "th": ("d",), "ph": ("f",),
    "wh": ("w",), "ck": ("k",), "ng": ("n",), "qu": ("k", "w"), "gh": (),
    "b": ("b",), "d": ("d",), "f": ("f",), "g": ("g",), "h": ("h",), "j": ("sh",), "k": ("k",),
    "l": ("l",), "m": ("m",), "n": ("n",), "p": ("p",), "q": ("k",), "r": ("r",), "s": ("s",),
    "t": ("t",), "v": ("f",), "w": ("w",), "x": ("k", "s"), "z": ("s",), "c": ("k",), "y": (),
}
_CONSONANT_SPELLINGS = sorted(_CONSONANTS, key=len, reverse=True)

# Vowel spellings, longest first, to vowel classes.
_VOWELS = {
    "igh": "ai", "eye": "ai", "ee": "ee", "ea": "ee", "ie": "ee", "ei": "ay", "ey": "ay",
    "ay": "ay", "ai": "ay", "oa": "oh", "oe": "oh", "oo": "oo", "ou": "ow", "ow": "ow",
    "oi": "oy", "oy": "oy", "au": "o", "aw": "o", "ew": "oo", "ue": "oo", "ui": "oo",
    "a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "y": "i",
}
_VOWEL_SPELLINGS = sorted(_VOWELS, key=len, reverse=True)
_VOWEL_LETTERS = frozenset("aeiouy")

# Magic e and open final vowels: short vowel -> long vowel.
_LONG = {"a": "ay", "e": "ee", "i": "ai", "o": "oh", "u": "oo"}

_CODA_CLASS = {
    "m": "n", "n": "n", "b": "t", "d": "t", "g": "t", "p": "t", "t": "t", "k": "t",
    "s": "s", "sh": "s", "f": "s", "l": "l", "r": "l",
}

_NON_LETTERS = re.compile(r"[^a-z]+")


def syllable_index(onset: str, vowel: str, coda: str) -> int:
    """Class index ``0 .. NUM_SYLLABLES - 1`` of ``(onset, vowel, coda)`` (names as above)."""
    return (_ONSET_INDEX[onset] * len(VOWELS) + _VOWEL_INDEX[vowel]) * len(CODAS) + CODAS.index(coda)


def syllable_parts(index: int) -> tuple[str, str, str]:
    """``(onset, vowel, coda)`` names of class ``index``."""
    if not 0 <= index < NUM_SYLLABLES:
        raise ValueError(f"syllable index {index} outside 0..{NUM_SYLLABLES - 1}")
    rest, coda = divmod(index, len(CODAS))
    onset, vowel = divmod(rest, len(VOWELS))
    return ONSETS[onset], VOWELS[vowel], CODAS[coda]


def syllable_name(index: int) -> str:
    """Readable name of class ``index``: its non-empty parts joined by dots ("luv" -> ``"l.u.s"``).

    Vowel and consonant names never coincide, so the name is unambiguous (``"s.ee"``, ``"ee.s"``).
    """
    return ".".join(part for part in syllable_parts(index) if part)


def words_of(text: str) -> list[str]:
    """The words of ``text`` after step 1 of the module rules (lower-case ``a-z`` runs)."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    for digit, name in enumerate(_DIGITS):
        text = text.replace(str(digit), f" {name} ")
    return [w for w in _NON_LETTERS.split(text) if w]


_WORD_PIECE = re.compile(r"[a-z'\u2019]+|[0-9]")


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` for each word of lower-case ``text``, with its character span.

    The words are exactly :func:`words_of` ``(text)`` (apostrophes dropped, each digit spelled
    out as its own word); the spans say where in ``text`` each came from, which lets a
    tokenizer map syllables back to the characters the user typed.
    """
    out = []
    for match in _WORD_PIECE.finditer(text):
        piece = match.group().replace("'", "").replace("\u2019", "")
        if piece.isdigit():
            piece = _DIGITS[int(piece)]
        if piece:
            out.append((match.start(), match.end(), piece))
    return out


def _read_units(word: str) -> list[tuple[str, str]]:
    """``word`` as ``("C", onset class)`` / ``("V", vowel class)`` units (steps 2-3)."""
    units: list[tuple[str, str]] = []
    i = 0
    while i < len(word):
        rest = word[i:]
        is_glide = rest[0] == "y" and len(rest) > 1 and rest[1] in "aeiou" and (i == 0 or word[i - 1] not in _VOWEL_LETTERS)
        if rest[0] in _VOWEL_LETTERS and not is_glide:
            spelling = next(s for s in _VOWEL_SPELLINGS if rest.startswith(s))
            units.append(("V", _VOWELS[spelling]))
        else:
            spelling = next(s for s in _CONSONANT_SPELLINGS if rest.startswith(s))
            classes = _CONSONANTS[spelling]
            if spelling == "c" and len(rest) > 1 and rest[1] in "eiy":
                classes = ("s",)
            elif spelling == "gh" and i == 0:
                classes = ("g",)
            units.extend(("C", c) for c in classes)
        i += len(spelling)
    return units


def _has_silent_e(word: str) -> bool:
    """Whether ``word`` ends in a silent ``e``, ``es`` or ``ed`` ("time", "times", "timed")."""
    stem = word[:-1] if word.endswith(("es", "ed")) else word
    if not stem.endswith("e") or len(stem) < 3 or stem[-2] in _VOWEL_LETTERS:
        return False
    if word.endswith("ed") and stem[-2] in "td":
        return False  # "wanted"
    return not (word.endswith("es") and (stem[-2] in "sxz" or stem.endswith(("che", "she"))))


def _apply_final_e(word: str, units: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop a silent final ``e`` and lengthen the vowel before it (magic e); keep ``-le``."""
    if not _has_silent_e(word):
        return units
    stem = word[:-1] if word.endswith(("es", "ed")) else word
    e_at = len(units) - 1 - (len(word) - len(stem))  # the e, before 0 or 1 consonant unit
    if e_at < 1 or units[e_at] != ("V", "e") or sum(kind == "V" for kind, _ in units) < 2:
        return units
    if stem.endswith("le") and stem[-3] not in _VOWEL_LETTERS:
        return units[:e_at - 1] + [("V", "u")] + [units[e_at - 1]] + units[e_at + 1:]  # -ble -> "bul"
    units = units[:e_at] + units[e_at + 1:]
    if e_at >= 2 and units[e_at - 1][0] == "C" and units[e_at - 2][0] == "V" and units[e_at - 2][1] in _LONG:
        units[e_at - 2] = ("V", _LONG[units[e_at - 2][1]])
    return units


def _coda_class(consonants: list[str]) -> str:
    return _CODA_CLASS.get(consonants[0], "") if consonants else ""


@lru_cache(maxsize=65536)
def word_syllables(word: str) -> tuple[int, ...]:
    """Syllable class indices of one word (any text: it is split by :func:`words_of` first)."""
    out: list[int] = []
    for w in words_of(word):
        out.extend(_one_word(w))
    return tuple(out)


def _one_word(word: str) -> list[int]:
    spelled = _RESPELL.get(word, word).replace("tion", "shun").replace("sion", "shun")
    units = _apply_final_e(spelled, _read_units(spelled))
    vowels = [i for i, (kind, _) in enumerate(units) if kind == "V"]
    if not vowels:
        onset = next((c for kind, c in units if kind == "C"), "")
        return [syllable_index(onset, "u", "")]
    if len(vowels) == 1 and vowels[0] == len(units) - 1 and units[-1][1] in _LONG and len(units) <= 3:
        units[-1] = ("V", _LONG[units[-1][1]])  # open monosyllable: "go", "me", "hi"
    if units[-1] == ("V", "i") and spelled.endswith("y") and len(vowels) > 1:
        units[-1] = ("V", "ee")  # "baby", "happy"
    syllables = []
    for n, v in enumerate(vowels):
        start = 0 if n == 0 else vowels[n - 1] + 1
        stop = vowels[n + 1] if n + 1 < len(vowels) else len(units)
        before = [c for _, c in units[start:v]]
        after = [c for _, c in units[v + 1:stop]]
        if n > 0 and len(before) >= 2:
            before = before[1:]  # the first consonant closed the previous syllable
        coda = after if n + 1 == len(vowels) else (after[:1] if len(after) >= 2 else [])
        syllables.append((before[0] if before else "", units[v][1], _coda_class(coda)))
    return [syllable_index(*s) for s in syllables]


def text_syllables(text: str) -> list[int]:
    """Syllable class indices of all words of ``text`` in order."""
    out: list[int] = []
    for w in words_of(text):
        out.extend(word_syllables(w))
    return out
