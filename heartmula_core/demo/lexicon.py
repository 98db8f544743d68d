"""The training corpus's word list and line templates.

Lines are made by filling templates (:data:`TEMPLATES`) with words of a part of speech
(:data:`WORDS`), plus *scat* lines of one-syllable vocables (:func:`scat_word`: "bah",
"shoot", "loys"...), one per syllable class, so that every class of :mod:`.syllables` is sung
somewhere in the corpus and a model can sing any lyrics, not only these words. Every word the
corpus can sing is in :func:`vocabulary`; none of them appears in the held-out evaluation
lyrics (:mod:`.eval_set`; the tests check it).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .syllables import NUM_SYLLABLES, syllable_parts, word_syllables

#: part of speech -> words. Verbs are (base, third person, -ing) triples.
WORDS: dict[str, tuple[str, ...]] = {
    "subject": ("i", "you", "we", "they"),
    "object": ("me", "you", "us", "them", "it"),
    "det": ("the", "a", "my", "your", "our", "this", "that", "every", "no"),
    "adj": (
        "golden", "silver", "broken", "wild", "young", "free", "lost", "cold", "warm", "bright",
        "dark", "lonely", "sweet", "blue", "red", "green", "electric", "endless", "quiet",
        "loud", "heavy", "little", "crazy", "perfect", "beautiful", "secret", "hidden", "higher",
        "deeper", "faded", "simple", "open", "strange", "brave", "tired", "restless", "sacred",
        "fragile", "holy", "crystal", "neon", "yellow", "purple", "gentle", "hungry",
        "magic", "final", "only", "famous", "better", "easy", "lucky", "pretty",
        "rusty", "sudden", "tender", "wicked", "wooden", "velvety", "sleepy", "busy", "humble",
        "ready", "shiny", "steel", "stony", "sunny", "rainy", "windy", "dizzy", "gloomy",
    ),
    "noun": (
        "heart", "night", "day", "light", "fire", "rain", "sky", "star", "sun", "moon", "road",
        "city", "street", "river", "ocean", "sea", "wave", "wind", "storm", "dream", "time",
        "world", "home", "door", "window", "summer", "morning", "evening", "midnight", "shadow",
        "eyes", "hands", "voice", "song", "heartbeat", "memory", "story", "flame", "sound",
        "line", "train", "car", "mirror", "garden", "mountain", "island", "highway",
        "love", "soul", "life", "place", "floor", "wall", "glass", "sugar", "money", "paper",
        "letter", "picture", "ticket", "rocket", "planet", "desert", "forest", "valley", "thunder",
        "lightning", "diamond", "feather", "cherry", "apple", "honey", "kitchen",
        "pocket", "jacket", "bottle", "rhythm", "music", "signal", "fever", "angel",
        "devil", "kingdom", "prison", "castle", "bridge", "tower", "circle", "border", "engine",
        "motor", "cabin", "temple", "stage", "lady", "stranger", "neighbor", "sister",
        "brother", "mother", "father", "people", "body", "skin", "bones", "blood",
        "tears", "smile", "name", "game", "party", "weekend", "season", "country",
        "canyon", "meadow", "puddle", "pillow", "blanket", "rooftop", "sidewalk", "avenue",
        "alley", "lemon", "melon", "tiger", "lion", "wolf", "horse", "bird", "butterfly",
        "guitar", "piano", "drum", "bell", "cup", "box", "map", "key", "lock", "chain", "rope",
        "ring", "crown", "coin", "boat", "ship", "plane", "bike", "bus", "ghost", "hero",
        "king", "queen", "prince", "pilot", "doctor", "soldier", "sailor", "monkey", "rabbit",
        "cookie", "pepper", "butter", "pizza", "tomato", "potato", "banana", "data", "zero",
    ),
    "verb": (
        "love loves loving", "need needs needing", "want wants wanting", "feel feels feeling",
        "see sees seeing", "hold holds holding", "hear hears hearing", "know knows knowing",
        "find finds finding", "lose loses losing", "miss misses missing", "call calls calling",
        "chase chases chasing", "follow follows following", "remember remembers remembering",
        "forget forgets forgetting", "carry carries carrying", "keep keeps keeping",
        "make makes making", "take takes taking", "give gives giving", "show shows showing",
        "leave leaves leaving", "touch touches touching", "run runs running",
        "fly flies flying", "fall falls falling", "dance dances dancing", "sing sings singing",
        "burn burns burning", "shine shines shining", "dream dreams dreaming", "cry cries crying",
        "smile smiles smiling", "breathe breathes breathing", "move moves moving",
        "stay stays staying", "break breaks breaking", "fight fights fighting",
        "walk walks walking", "ride rides riding", "drive drives driving", "paint paints painting",
        "build builds building", "open opens opening", "close closes closing",
        "start starts starting", "turn turns turning", "rise rises rising",
        "believe believes believing", "shout shouts shouting", "jump jumps jumping",
        "pray prays praying", "play plays playing", "spin spins spinning",
        "glow glows glowing", "live lives living", "fade fades fading",
        "tell tells telling", "talk talks talking", "bring brings bringing", "send sends sending",
        "try tries trying", "pull pulls pulling", "push pushes pushing", "climb climbs climbing",
        "swim swims swimming", "sleep sleeps sleeping", "wake wakes waking", "cook cooks cooking",
        "kick kicks kicking", "knock knocks knocking", "lift lifts lifting",
        "bend bends bending", "seek seeks seeking", "steal steals stealing",
        "save saves saving", "roll rolls rolling", "rock rocks rocking",
        "shake shakes shaking", "wish wishes wishing", "hope hopes hoping", "laugh laughs laughing",
        "change changes changing", "hunt hunts hunting", "buy buys buying", "sell sells selling",
    ),
    "prep": ("in", "on", "under", "through", "into", "across", "with", "without", "from", "to",
             "like", "by", "for", "around", "behind", "after", "before", "inside", "outside", "near"),
    "adverb": ("tonight", "forever", "again", "now", "never", "always", "together", "alone", "away",
               "down", "up", "back", "today", "tomorrow", "yesterday", "slowly", "only", "still",
               "maybe", "somehow", "anyway", "someday", "everywhere", "nowhere", "tight", "fast", "home"),
    "conj": ("and", "but", "or", "cause", "when", "if", "while", "so"),
    "aux": ("can", "will", "wont", "dont", "cant", "gonna", "wanna", "got to", "never", "could", "would", "should"),
    "interj": ("oh", "yeah", "hey", "whoa", "ooh", "baby", "la", "na", "ah", "mm", "da", "doo", "sha", "ba", "uh"),
    "be": ("is", "was"),
    "are": ("are", "were"),
    "am": ("am",),
}

#: line templates: space-separated parts of speech; "verb", "verbs", "verbing" take a verb form
TEMPLATES: tuple[str, ...] = (
    "subject verb det noun",
    "subject verb det adj noun",
    "subject aux verb det noun adverb",
    "subject aux verb object adverb",
    "det adj noun prep det noun",
    "verb prep det noun",
    "verb object prep det adj noun",
    "subject are verbing prep det noun",
    "subject am verbing adverb",
    "interj subject verb det noun",
    "interj interj interj",
    "interj interj subject verb object",
    "noun conj noun conj noun",
    "adverb subject verb",
    "det noun verbs prep det noun",
    "det adj noun verbs adverb",
    "subject verb object conj subject verb object",
    "prep det adj noun subject verb adverb",
    "det noun be adj conj det noun be adj",
    "verbing prep det noun adverb",
    "subject verb det noun prep object",
    "det noun prep det noun be verbing",
    "conj subject verb object subject aux verb",
)
#: scat lines (vocables only)
SCAT_TEMPLATES: tuple[str, ...] = ("scat scat scat", "scat scat scat scat", "interj scat scat scat",
                                   "scat scat interj scat scat")


# spellings that the syllable rules read back as the intended class
_SCAT_VOWELS = {"a": "ah", "e": "eh", "i": "ih", "o": "oh", "u": "uh", "ee": "ee", "oo": "oo",
                "ay": "ay", "ai": "igh", "oh": "oa", "ow": "ou", "oy": "oy"}
_SCAT_OPEN_SHORT = frozenset("aeiou")
_SCAT_ALTERNATIVES = {"ee": "ea", "ay": "ai", "oo": "ew", "oh": "oe", "ow": "ow"}


def scat_word(index: int) -> str:
    """A one-syllable vocable sung as syllable class ``index`` ("b", "ee", "t" -> "beet").

    The plain spelling is used unless a whole-word respelling (:mod:`.syllables`) catches it
    ("was"); then the coda is doubled ("wass") or the vowel spelled another way ("bean").
    """
    onset, vowel, coda = syllable_parts(index)
    spelled = vowel if coda and vowel in _SCAT_OPEN_SHORT else _SCAT_VOWELS[vowel]  # "ban", "bah"
    candidates = [onset + spelled + coda, onset + spelled + coda * 2,
                  onset + _SCAT_ALTERNATIVES.get(vowel, spelled) + coda]
    return next((w for w in candidates if word_syllables(w) == (index,)), candidates[0])


def _verb_forms() -> dict[str, tuple[str, ...]]:
    forms = [verb.split() for verb in WORDS["verb"]]
    return {"verb": tuple(f[0] for f in forms), "verbs": tuple(f[1] for f in forms),
            "verbing": tuple(f[2] for f in forms)}


@lru_cache(maxsize=1)
def scat_words() -> tuple[str, ...]:
    """One vocable per syllable class, in class order."""
    return tuple(scat_word(i) for i in range(NUM_SYLLABLES))


@lru_cache(maxsize=1)
def _pools() -> dict[str, tuple[str, ...]]:
    pools = {name: words for name, words in WORDS.items() if name != "verb"}
    pools.update(_verb_forms())
    pools["scat"] = scat_words()
    return pools


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every word a generated lyric can contain (multi-word entries split)."""
    return frozenset(word for words in _pools().values() for entry in words for word in entry.split())


def random_line(rng: np.random.Generator, scat: bool = False) -> str:
    """One lyric line from a random template (a scat template if ``scat``)."""
    pools = _pools()
    templates = SCAT_TEMPLATES if scat else TEMPLATES
    template = templates[int(rng.integers(len(templates)))]
    return " ".join(pools[part][int(rng.integers(len(pools[part])))] for part in template.split())
