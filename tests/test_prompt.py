"""Tests of heartmula_core.prompt and heartmula_core.tiny_tokenizer (CPU, well under a second each)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from heartmula_core.config import GenConfig
from heartmula_core.errors import CheckpointError, PromptError
from heartmula_core.prompt import (
    MARKER_LINE,
    MUQ_ROW_TOKEN,
    Prompt,
    PromptTokenizer,
    classify_marker,
    lower_with_origin,
    parse_lyrics,
    preprocess_lyrics,
    preprocess_tags,
    with_bos_eos,
)
from heartmula_core.tiny_tokenizer import TINY_BOS_ID, TINY_EOS_ID, write_tiny_tokenizer

TINY_GEN = GenConfig(text_bos_id=TINY_BOS_ID, text_eos_id=TINY_EOS_ID)

SONG = (
    "Walking in, unmarked\n"
    "\n"
    "[Verse 1]\n"
    "The night is young, the stars are bright\n"
    "  I hold your hand  \n"
    "\n"
    "[Pre-Chorus]\n"
    "oh, oh!\n"
    "[intro]\n"
    "[Chorus]\n"
    "Love, love, love is all we need\n"
)


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory) -> dict[bool, Path]:
    """tokenizer.json files of the tiny tokenizer, with and without the BOS post-processor."""
    folder = tmp_path_factory.mktemp("tiny")
    files = {}
    for add_bos in (True, False):
        files[add_bos] = folder / f"tokenizer_{add_bos}.json"
        write_tiny_tokenizer(files[add_bos], add_bos=add_bos)
    return files


@pytest.fixture(scope="module", params=[True, False], ids=["bos", "nobos"])
def prompt_tokenizer(request, tokenizer_files) -> PromptTokenizer:
    """A PromptTokenizer over each tiny tokenizer."""
    return PromptTokenizer(tokenizer_files[request.param], TINY_GEN)


@pytest.fixture(scope="module")
def bos_tokenizer(tokenizer_files) -> PromptTokenizer:
    """The tiny tokenizer that adds BOS, like stock Llama-3.2."""
    return PromptTokenizer(tokenizer_files[True], TINY_GEN)


def check_map(prompt: Prompt) -> None:
    """Invariants of token_lines and token_spans shared by several tests."""
    lyrics = prompt.structure
    items = {}
    for section in lyrics.sections:
        if section.marker_span:
            items[(section.index, MARKER_LINE)] = section.marker_span
        for line in section.lines:
            items[line.key] = (line.start, line.end)
    assert all(key is None for key in prompt.token_lines[: prompt.lyrics_start + 1])
    assert prompt.token_lines[-1] is None
    previous = None
    for pos in range(prompt.lyrics_start, len(prompt)):
        key, span = prompt.token_lines[pos], prompt.token_spans[pos]
        if span is not None:
            assert 0 <= span[0] < span[1] <= len(lyrics.text)
        for item_key, (start, end) in items.items():
            if span is not None and start <= span[0] and span[1] <= end:
                assert key == item_key, (pos, span, key, item_key)
        if key is None:
            if span is not None:
                assert lyrics.text[span[0] : span[1]].strip() == ""
            continue
        start, end = items[key]
        assert span is not None and span[0] < end and start < span[1]
        assert previous is None or previous <= key
        previous = key


# ------------------------------------------------------------------------------------------
# preprocessing (spec §3.1)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tags", "expected"), [
    ("Pop,Rock", "<tag>pop,rock</tag>"),
    ("<TAG>Piano,Happy</TAG>", "<tag>piano,happy</tag>"),
    ("<tag>piano", "<tag>piano</tag>"),
    ("piano</tag>", "<tag>piano</tag>"),
    ("", "<tag></tag>"),
    (" <tag>pop</tag> ", "<tag> <tag>pop</tag> </tag>"),
])
def test_preprocess_tags_lowercases_and_wraps_only_when_needed(tags, expected):
    assert preprocess_tags(tags) == expected


def test_preprocess_lyrics_only_lowercases():
    assert preprocess_lyrics("[Verse]\nHELLO <tag>") == "[verse]\nhello <tag>"


@pytest.mark.parametrize(("ids", "expected"), [
    ([5, 6], [1, 5, 6, 2]),
    ([1, 5, 6], [1, 5, 6, 2]),
    ([5, 6, 2], [1, 5, 6, 2]),
    ([1, 5, 2], [1, 5, 2]),
    ([1], [1, 2]),
    ([2], [1, 2]),
    ([], [1, 2]),
])
def test_bos_eos_added_only_when_absent(ids, expected):
    assert with_bos_eos(ids, 1, 2) == expected


def test_tags_ids_match_reference_rule(tokenizer_files):
    raw = {flag: Tokenizer.from_file(str(path)) for flag, path in tokenizer_files.items()}
    wrapped = "<tag>piano,happy,wedding</tag>"
    assert raw[True].encode(wrapped).ids[0] == TINY_BOS_ID
    assert raw[False].encode(wrapped).ids[0] != TINY_BOS_ID
    expected = [TINY_BOS_ID, *raw[False].encode(wrapped).ids, TINY_EOS_ID]
    for flag, path in tokenizer_files.items():
        ids = PromptTokenizer(path, TINY_GEN).encode_tags("Piano,Happy,Wedding")
        assert ids == expected, flag
        assert ids.count(TINY_BOS_ID) == 1 and ids.count(TINY_EOS_ID) == 1


def test_lyrics_ids_match_reference_rule(prompt_tokenizer):
    lyrics = "[Verse]\nHello World"
    raw = prompt_tokenizer.tokenizer.encode("[verse]\nhello world").ids
    assert prompt_tokenizer.encode_lyrics(lyrics) == with_bos_eos(raw, TINY_BOS_ID, TINY_EOS_ID)
    tag_wrapped = prompt_tokenizer.tokenizer.encode("<tag>[verse]\nhello world</tag>").ids
    assert prompt_tokenizer.encode_lyrics(lyrics) != with_bos_eos(tag_wrapped, TINY_BOS_ID, TINY_EOS_ID)


def test_lyrics_ending_in_eos_text_get_no_second_eos(prompt_tokenizer):
    ids = prompt_tokenizer.encode_lyrics("la la<|end_of_text|>")
    assert ids[0] == TINY_BOS_ID and ids[-1] == TINY_EOS_ID and ids[-2] != TINY_EOS_ID


def test_text_that_names_a_file_is_still_text(prompt_tokenizer, tokenizer_files):
    path_text = str(tokenizer_files[True])
    ids = prompt_tokenizer.encode_tags(path_text)
    raw = prompt_tokenizer.tokenizer.encode(preprocess_tags(path_text)).ids
    assert ids == with_bos_eos(raw, TINY_BOS_ID, TINY_EOS_ID)
    prompt = prompt_tokenizer.encode("pop", path_text)
    assert prompt.structure.lines[0].text == path_text


def test_non_str_inputs_raise_type_error(bos_tokenizer):
    with pytest.raises(TypeError):
        bos_tokenizer.encode(["pop"], "la")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bos_tokenizer.encode("pop", b"la")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# layout (spec §3.2)
# ------------------------------------------------------------------------------------------


def test_prompt_layout(prompt_tokenizer):
    prompt = prompt_tokenizer.encode("Pop,Piano", SONG)
    tags = prompt_tokenizer.encode_tags("Pop,Piano")
    lyrics = prompt_tokenizer.encode_lyrics(SONG)
    assert len(prompt) == len(tags) + 1 + len(lyrics)
    assert prompt.muq_index == len(tags) and prompt.lyrics_start == len(tags) + 1
    assert prompt.tokens[prompt.muq_index] == MUQ_ROW_TOKEN == 0
    assert list(prompt.tag_tokens) == tags and list(prompt.lyrics_tokens) == lyrics
    assert prompt.tokens[prompt.muq_index - 1] == TINY_EOS_ID
    assert prompt.tokens[prompt.lyrics_start] == TINY_BOS_ID
    assert len(prompt.token_lines) == len(prompt.token_spans) == len(prompt)
    assert prompt.tags == "Pop,Piano" and prompt.lyrics == SONG


def test_instrumental_lyrics_are_allowed(bos_tokenizer):
    empty = bos_tokenizer.encode("pop", "")
    assert empty.lyrics_tokens == (TINY_BOS_ID, TINY_EOS_ID) and empty.structure.is_instrumental
    markers = bos_tokenizer.encode("pop", "[intro]\n[outro]")
    assert markers.structure.is_instrumental and len(markers.structure.sections) == 2
    check_map(markers)


def test_too_long_prompt_error(bos_tokenizer):
    length = len(bos_tokenizer.encode("pop", SONG))
    assert len(bos_tokenizer.encode("pop", SONG, max_tokens=length)) == length
    with pytest.raises(PromptError) as info:
        bos_tokenizer.encode("pop", SONG, max_tokens=length - 7)
    message = str(info.value)
    assert "\n" not in message
    assert f"prompt is {length} tokens" in message
    assert f"limit of {length - 7}" in message
    assert "by at least 7 tokens" in message


# ------------------------------------------------------------------------------------------
# tokenizer loading
# ------------------------------------------------------------------------------------------


def test_missing_and_invalid_tokenizer_files(tmp_path):
    missing = tmp_path / "nope" / "tokenizer.json"
    with pytest.raises(CheckpointError, match="does not exist") as info:
        PromptTokenizer(missing, TINY_GEN)
    assert str(missing) in str(info.value)
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a valid tokenizer.json") as info:
        PromptTokenizer(broken, TINY_GEN)
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


def test_str_source_is_refused_and_tokenizer_object_accepted(tokenizer_files):
    with pytest.raises(TypeError, match="pathlib.Path"):
        PromptTokenizer(str(tokenizer_files[True]), TINY_GEN)  # type: ignore[arg-type]
    tokenizer = Tokenizer.from_file(str(tokenizer_files[True]))
    assert PromptTokenizer(tokenizer, TINY_GEN).tokenizer is tokenizer


def test_special_ids_must_exist_in_vocabulary(tokenizer_files):
    with pytest.raises(CheckpointError, match="128000"):
        PromptTokenizer(tokenizer_files[True], GenConfig())


# ------------------------------------------------------------------------------------------
# tiny tokenizer
# ------------------------------------------------------------------------------------------


def test_tiny_tokenizer_is_deterministic_and_fast(tmp_path):
    start = time.perf_counter()
    write_tiny_tokenizer(tmp_path / "a.json")
    assert time.perf_counter() - start < 1.0
    write_tiny_tokenizer(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    write_tiny_tokenizer(tmp_path / "c.json", vocab_size=300, add_bos=False)
    assert (tmp_path / "a.json").read_bytes() != (tmp_path / "c.json").read_bytes()


def test_tiny_tokenizer_layout(tokenizer_files):
    tokenizer = Tokenizer.from_file(str(tokenizer_files[True]))
    assert tokenizer.get_vocab_size() == 512
    assert tokenizer.token_to_id("<|begin_of_text|>") == TINY_BOS_ID == 1
    assert tokenizer.token_to_id("<|end_of_text|>") == TINY_EOS_ID == 2
    encoding = tokenizer.encode("hello world")
    assert encoding.ids[0] == TINY_BOS_ID and encoding.ids[-1] != TINY_EOS_ID
    assert encoding.offsets[1:] and encoding.offsets[-1][1] == len("hello world")
    assert tokenizer.decode(encoding.ids) == "hello world"


# ------------------------------------------------------------------------------------------
# lyrics parsing
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("Verse 1", ("verse", 1, "Verse 1")),
    ("verse2", ("verse", 2, "Verse 2")),
    ("Chorus #3", ("chorus", 3, "Chorus 3")),
    ("Pre-Chorus", ("pre-chorus", None, "Pre-Chorus")),
    ("pre chorus", ("pre-chorus", None, "Pre-Chorus")),
    ("PRECHORUS", ("pre-chorus", None, "Pre-Chorus")),
    ("Intro", ("intro", None, "Intro")),
    ("instrumental", ("instrumental", None, "Instrumental")),
    ("Hook", ("hook", None, "Hook")),
    ("Guitar  Solo 2", ("guitar solo", 2, "Guitar Solo 2")),
    ("Verse 2: Anna", ("verse", 2, "Verse 2: Anna")),
    ("1999", ("1999", None, "1999")),
])
def test_classify_marker(name, expected):
    assert classify_marker(name) == expected


def test_parse_sections_and_lines():
    lyrics = parse_lyrics(SONG)
    kinds = [section.kind for section in lyrics.sections]
    assert kinds == ["", "verse", "pre-chorus", "intro", "chorus"]
    unmarked, verse, pre, intro, chorus = lyrics.sections
    assert unmarked.marker == "" and unmarked.marker_span is None and unmarked.label == ""
    assert verse.marker == "[Verse 1]" and verse.number == 1 and verse.label == "Verse 1"
    assert SONG[slice(*verse.marker_span)] == "[Verse 1]"
    assert [line.text for line in verse.lines] == [
        "The night is young, the stars are bright", "I hold your hand"]
    assert intro.lines == () and intro.span == intro.marker_span
    assert [line.index for line in lyrics.lines] == list(range(5))
    for section in lyrics.sections:
        for number, line in enumerate(section.lines):
            assert (line.section, line.line) == (section.index, number)
            assert SONG[line.start : line.end] == line.text
    assert pre.label == "Pre-Chorus" and chorus.lines[0].section == 4
    assert lyrics.line(4).text == "Love, love, love is all we need"
    with pytest.raises(IndexError):
        lyrics.line(5)


def test_windows_and_old_mac_line_endings():
    text = "[Verse]\r\nfirst line\r\n\r\n second \r[Chorus]\rthird"
    lyrics = parse_lyrics(text)
    assert [s.kind for s in lyrics.sections] == ["verse", "chorus"]
    assert [line.text for line in lyrics.lines] == ["first line", "second", "third"]
    for line in lyrics.lines:
        assert text[line.start : line.end] == line.text


def test_no_markers_and_odd_brackets():
    lyrics = parse_lyrics("la [la] la\n[]\n  [Bridge]  \n[a] [b]\n[x]]")
    assert [s.kind for s in lyrics.sections] == ["", "bridge"]
    assert lyrics.sections[1].marker == "[Bridge]"
    assert [line.text for line in lyrics.lines] == ["la [la] la", "[]", "[a] [b]", "[x]]"]
    assert parse_lyrics("").sections == () and parse_lyrics(" \n\n").is_instrumental


# ------------------------------------------------------------------------------------------
# token -> line map
# ------------------------------------------------------------------------------------------


def test_token_map(prompt_tokenizer):
    prompt = prompt_tokenizer.encode("Pop,Rock", SONG)
    check_map(prompt)
    assert all(key is None for key in prompt.token_lines[: prompt.lyrics_start])
    for section in prompt.structure.sections:
        if section.marker_span:
            start, stop = prompt.line_token_range(section.index, MARKER_LINE)
            assert start < stop
            covered = "".join(SONG[slice(*prompt.token_spans[p])] for p in range(start, stop))
            assert covered.strip() == section.marker


def test_line_token_ranges_are_consistent(prompt_tokenizer):
    prompt = prompt_tokenizer.encode("pop", SONG)
    for section in prompt.structure.sections:
        s_start, s_stop = prompt.section_token_range(section.index)
        assert s_start < s_stop
        for line in section.lines:
            start, stop = prompt.line_token_range(section.index, line.line)
            assert s_start <= start < stop <= s_stop
            assert all(prompt.token_lines[p] == line.key for p in range(start, stop))
            outside = [p for p in range(len(prompt)) if not start <= p < stop]
            assert all(prompt.token_lines[p] != line.key for p in outside)
            covered = "".join(SONG[slice(*prompt.token_spans[p])] for p in range(start, stop))
            assert covered.strip() == line.text
            assert prompt.line_at(start) == line
    unmarked_marker = prompt.line_token_range(0, MARKER_LINE)
    assert unmarked_marker[0] == unmarked_marker[1] == prompt.line_token_range(0, 0)[0]
    with pytest.raises(IndexError):
        prompt.line_token_range(1, 2)
    with pytest.raises(IndexError):
        prompt.section_token_range(len(prompt.structure.sections))


@pytest.mark.parametrize("text", [
    "[Verse]\nCafé naïve, crème brûlée\nÅNGSTRÖM über",
    "[Chorus]\n東京の夜 星が光る\n사랑해요\nПривет МИР",
    "[Hook]\n🎸🔥 rock on 👩‍🎤\nend",
    "[Bridge]\nİSTANBUL İİİ\nthe line after İ\nΟΔΟΣ ΣΟΦΙΑΣ",
])
def test_unicode_lyrics_keep_offsets(bos_tokenizer, text):
    lowered, origin = lower_with_origin(text)
    assert lowered == text.lower() and len(origin) == len(lowered) + 1
    prompt = bos_tokenizer.encode("pop", text)
    assert list(prompt.lyrics_tokens) == with_bos_eos(
        bos_tokenizer.tokenizer.encode(text.lower()).ids, TINY_BOS_ID, TINY_EOS_ID)
    check_map(prompt)
    for line in prompt.structure.lines:
        start, stop = prompt.line_token_range(line.section, line.line)
        spans = [prompt.token_spans[p] for p in range(start, stop)]
        covered = {i for span in spans for i in range(*span)}
        assert covered >= set(range(line.start, line.end))
        assert min(covered) >= line.start - 1 and max(covered) < line.end + 1


def test_dotted_capital_i_does_not_shift_later_lines(bos_tokenizer):
    text = "İ" * 40 + "\nsecond line"
    assert len(text.lower()) > len(text)
    prompt = bos_tokenizer.encode("", text)
    start, stop = prompt.line_token_range(0, 1)
    assert "".join(text[slice(*prompt.token_spans[p])] for p in range(start, stop)) == "second line"


# ------------------------------------------------------------------------------------------
# property test
# ------------------------------------------------------------------------------------------

_WORDS = st.text(alphabet="abcXYZ éüİΣ東🎸,.!'-[]# \t", min_size=0, max_size=12)
_MARKERS = st.sampled_from(["[Verse]", "[Verse 2]", "[chorus]", " [Bridge] ", "[Intro]", "[x y]", "[]"])
_ROWS = st.lists(st.one_of(_WORDS, _MARKERS, st.just("")), max_size=12)
_ENDINGS = st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]), min_size=12, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS, endings=_ENDINGS, free=st.text(max_size=30))
def test_token_lines_are_monotonic(bos_tokenizer, rows, endings, free):
    for text in ("".join(row + end for row, end in zip(rows, endings)), free):
        prompt = bos_tokenizer.encode("pop", text)
        check_map(prompt)
        keys = [key for key in prompt.token_lines[prompt.lyrics_start :] if key is not None]
        assert keys == sorted(keys)
        for line in prompt.structure.lines:
            assert text[line.start : line.end] == line.text and line.text == line.text.strip()
            start, stop = prompt.line_token_range(line.section, line.line)
            assert start < stop
