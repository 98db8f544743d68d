"""Held-out evaluation prompts: lyrics and tags written by hand, never produced by the corpus.

No word of these lyrics is in the corpus word list (:func:`.lexicon.vocabulary`) and the corpus
generator refuses tag sets equal to these (:func:`.corpus.make_song`); the tests check both, and
that every syllable class sung here occurs in the word list, so a model trained on the corpus
has seen every token it must sing. The items pair up for the control checks: fast vs slow and
major vs minor tags. Each composes to at most 60 s at its tags' tempos.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalItem:
    name: str
    tags: str
    lyrics: str


EVAL_SET: tuple[EvalItem, ...] = (
    EvalItem("harbor", "folk,guitar,fast,major,female", """[intro]

[verse]
lanterns flicker beside harbor water
sailors humming merry shanties
copper bells ringing past sunrise

[chorus]
hoist canvas sails toward distant islands
steady breezes guide each vessel
harbor lanterns guide sailors homeward

[outro]
"""),
    EvalItem("orchid", "ballad,piano,slow,minor,male", """[verse]
velvet curtains conceal vacant balconies
candles melting beneath portraits

[chorus]
hush softly, winter orchid
petals frozen, colors vanish

[outro]
"""),
    EvalItem("asphalt", "rock,electric guitar,fast,minor,male", """[intro]

[verse]
engines growling underneath asphalt
headlights flashing, tires screaming
concrete canyons echo thunderously

[chorus]
faster, faster, racing tomorrow's dawn
nothing halts these rebels
faster, faster, racing tomorrow's dawn

[outro]
"""),
    EvalItem("meadow", "country,strings,slow,major,female", """[verse]
barefoot children gather daisies
grandpa whistles cheerful tunes

[chorus]
sunflowers nodding, harvest coming
grateful hearts rejoicing

[outro]
"""),
    EvalItem("satellite", "electronic,synth,fast,major", """[intro]

[verse]
satellites orbiting somewhere
pixels flashing, lasers beaming
robots marching, circuits humming

[chorus]
upload happiness, download galaxies
satellites orbiting somewhere

[outro]
"""),
    EvalItem("cathedral", "classical,organ,strings,slow,minor", """[verse]
marble statues guarding silence
choirs chanting hymns

[chorus]
ancient cathedral, sorrowful bells
solemn pilgrims kneeling

[outro]
"""),
    EvalItem("pancakes", "pop,piano,happy,medium,female", """[verse]
pancakes sizzling, syrup dripping
kittens purring beside sunlit curtains
grandma's radio crackling merrily

[chorus]
sunday mornings seem wonderful
cozy pajamas, giggles, cuddles
sunday mornings seem wonderful

[outro]
"""),
    EvalItem("embers", "soul,organ,sad,medium,male", """[verse]
embers dying, ashes drifting
telephone silent, voicemail unanswered
raindrops tapping windowpanes

[chorus]
darling, darling, whose whispers remain
bitter coffee, sleepless hours
darling, darling, whose whispers remain

[outro]
"""),
)
