"""The demo model's tokenizer and training script (a tiny CPU run; the real run is on a GPU)."""

from __future__ import annotations

import json

import pytest
import torch

from heartmula_core.demo.codec import DemoCodec
from hypothesis import given
from hypothesis import strategies as st

from heartmula_core.demo.syllables import NUM_SYLLABLES, text_syllables, word_spans, words_of
from heartmula_core.demo.tokenizer import (
    DEMO_BOS_ID,
    DEMO_EOS_ID,
    DEMO_UNK_ID,
    build_demo_tokenizer,
    syllable_frontend,
    syllable_token_ids,
    write_demo_tokenizer,
)
from heartmula_core.demo.train import (
    AUDIO_EOS_ID,
    AUDIO_VOCAB_SIZE,
    CODEC_DIR,
    MAX_WEIGHTS_BYTES,
    MODEL_DIR,
    CheckpointTooLarge,
    TrainSettings,
    build_config,
    count_parameters,
    demo_prompt_tokenizer,
    loss_fn,
    main,
    make_batch,
    make_examples,
    section_starts,
    tie_syllable_embeddings,
    train,
    write_checkpoint,
)
from heartmula_core.model.random_init import random_heartmula
from heartmula_core.pipeline import Pipeline
from heartmula_core.prompt import parse_lyrics
from heartmula_core.sampling import SamplingSettings

LYRICS = "[Verse 1]\nZebras quizzically juxtapose,\nxylophones hum 42 tunes!\n\n[Chorus]\nla la, oh-oh\n"
TINY = TrainSettings(steps=30, batch=2, device="cpu", dim=64, layers=1, decoder_dim=64, decoder_layers=1,
                     heads=4, songs=8, max_frames=64, lr=3e-3, warmup=3, log_every=10, bank_clips=1)


def _small_setup(layers: int, heads: int):
    """Two corpus examples of 40 frames, a small random model and the batch of both."""
    settings = TrainSettings(songs=2, max_frames=40, dim=64, layers=layers, decoder_dim=64, decoder_layers=1,
                             heads=heads)
    tok = demo_prompt_tokenizer()
    examples = make_examples(settings, tok)
    model = random_heartmula(build_config(settings, tok.tokenizer.get_vocab_size()), seed=3)
    return examples, model, make_batch(examples, [0, 1], 0.0, torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    result = train(TINY)
    root = write_checkpoint(tmp_path_factory.mktemp("demo_ckpt"), result.model, result.config)
    return result, root


def test_tokenizer_is_deterministic(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_demo_tokenizer(a)
    write_demo_tokenizer(b)
    assert a.read_bytes() == b.read_bytes()
    assert build_demo_tokenizer().get_vocab_size() < 1300


def test_tokenizer_words_and_bos():
    tok = build_demo_tokenizer()
    enc = tok.encode("<tag>pop, hip-hop, 120 bpm, wibble</tag>")
    assert enc.ids[0] == DEMO_BOS_ID and DEMO_EOS_ID not in enc.ids
    assert enc.tokens[1:] == ["<tag>", "pop", ",", "hip-hop", ",", "1", "2", "0", "bpm", ",", "<|unk|>", "</tag>"]
    # every syllable class has its own token
    assert len(set(syllable_token_ids())) == NUM_SYLLABLES
    assert DEMO_UNK_ID not in syllable_token_ids()


def test_frontend_sings_exactly_the_composer_syllables():
    lyrics = parse_lyrics(LYRICS)
    text, origin = syllable_frontend(LYRICS.lower())
    assert len(origin) == len(text) + 1 and origin[-1] == len(LYRICS)
    tok = build_demo_tokenizer()
    ids = tok.encode(text).ids[1:]
    sung = [i for i in ids if i in set(syllable_token_ids())]
    expected = [s for line in lyrics.lines for s in text_syllables(line.text)]
    assert sung == [syllable_token_ids()[s] for s in expected]
    assert tok.id_to_token(ids[0]) == "[" and DEMO_UNK_ID not in ids


@given(st.text(alphabet=st.sampled_from(list("abcdeiouyst'\u2019 -,019\n[]")), max_size=60))
def test_word_spans_equal_words_of(text):
    spans = word_spans(text)
    assert [w for _, _, w in spans] == words_of(text)
    assert all(0 <= a < b <= len(text) for a, b, _ in spans)


def test_prompt_maps_syllables_to_lines():
    tok = demo_prompt_tokenizer()
    prompt = tok.encode("Pop, Happy", LYRICS)
    text = tok.tokenizer.decode(list(prompt.tag_tokens))
    assert text == "<tag> pop , happy </tag>"
    assert prompt.tokens[prompt.muq_index] == 0
    assert prompt.lyrics_tokens[0] == DEMO_BOS_ID and prompt.lyrics_tokens[-1] == DEMO_EOS_ID
    syllables = set(syllable_token_ids())
    lines = parse_lyrics(LYRICS).lines
    for line in lines:
        start, end = prompt.line_token_range(line.section, line.line)
        sung = [t for t in prompt.tokens[start:end] if t in syllables]
        assert sung == [syllable_token_ids()[s] for s in text_syllables(line.text)]
    # a syllable token's span is inside the word it came from
    for position, span in enumerate(prompt.token_spans):
        if prompt.tokens[position] in syllables:
            assert LYRICS[span[0]:span[1]].strip() and "\n" not in LYRICS[span[0]:span[1]]


def test_tied_initialisation_aligns_the_copy_path():
    config = build_config(TINY, build_demo_tokenizer().get_vocab_size())
    model = random_heartmula(config, seed=1)
    tie_syllable_embeddings(model)
    ids = torch.tensor(syllable_token_ids())
    audio = torch.arange(NUM_SYLLABLES) + 2
    assert torch.equal(model.text_embeddings.weight[ids], model.audio_embeddings.weight[audio])
    logits = model.text_embeddings.weight[ids[:50]] @ model.codebook0_head.weight.T
    assert torch.equal(logits.argmax(dim=1), audio[:50])


def test_examples_end_with_eos_frame():
    settings = TrainSettings(songs=2, max_frames=100_000)
    tok = demo_prompt_tokenizer()
    examples = make_examples(settings, tok)
    for ex in examples:
        assert (ex.frames[-1] == AUDIO_EOS_ID).all()
        assert (ex.frames[:-1] < AUDIO_EOS_ID - 1).all()
    batch = make_batch(examples, [0, 1], 1.0, torch.Generator().manual_seed(0))
    assert batch.uncond.all()
    assert batch.frames.shape[0] == 2 and batch.frames.shape[1] == max(e.frames.shape[0] for e in examples)


def test_default_config_fits_the_size_limit():
    config = build_config(TrainSettings(), build_demo_tokenizer().get_vocab_size())
    assert config.audio_vocab_size == AUDIO_VOCAB_SIZE and config.audio_num_codebooks == 8
    assert config.muq_dim == 512
    with torch.device("meta"):
        from heartmula_core.model.heartmula import HeartMuLa
        params = count_parameters(HeartMuLa(config))
    assert 2 * params < MAX_WEIGHTS_BYTES


def test_training_lowers_the_loss(tiny_run):
    result, _ = tiny_run
    assert len(result.losses) == TINY.steps
    start = sum(result.losses[:3]) / 3
    end = sum(result.losses[-3:]) / 3
    assert end < 0.7 * start, (start, end)


def test_checkpoint_layout_and_size(tiny_run):
    _, root = tiny_run
    weights = root / MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= MAX_WEIGHTS_BYTES
    assert (root / CODEC_DIR / "config.json").is_file()
    assert json.loads((root / CODEC_DIR / "config.json").read_text())["model_type"] == "heartmula_demo_codec"
    gen = json.loads((root / "gen_config.json").read_text())
    assert gen == {"text_bos_id": DEMO_BOS_ID, "text_eos_id": DEMO_EOS_ID, "audio_eos_id": AUDIO_EOS_ID,
                   "empty_id": 0}
    assert (root / "tokenizer.json").read_text() == build_demo_tokenizer().to_str(pretty=True)


def test_checkpoint_loads_generates_and_decodes(tiny_run):
    _, root = tiny_run
    pipe = Pipeline.load(root, device="cpu")
    assert isinstance(pipe.codec, DemoCodec)
    prompt = pipe.encode_prompt("pop, happy, fast", LYRICS)
    frames = list(pipe.generate(prompt, max_frames=20, settings=SamplingSettings(), seed=0, stop_at_eos=False))
    assert len(frames) == 20
    song = torch.stack(frames).cpu()
    # the sampler only draws codec ids (per-codebook ranges) or EOS
    has_eos = (song >= AUDIO_EOS_ID).any(dim=1)
    assert ((song < torch.tensor(pipe.codec.codebook_sizes)) | (song == AUDIO_EOS_ID)).all()
    song = song[~has_eos]
    assert len(song) > 0
    audio = pipe.decode(song)
    assert audio.shape[0] == 2 and torch.isfinite(audio).all()


def test_size_check_fails_loudly(tmp_path, monkeypatch):
    import heartmula_core.demo.train as train_module

    config = build_config(TINY, build_demo_tokenizer().get_vocab_size())
    model = random_heartmula(config)
    monkeypatch.setattr(train_module, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(CheckpointTooLarge):
        write_checkpoint(tmp_path, model, config)
    assert not (tmp_path / "gen_config.json").exists()


def test_cli_smoke(tmp_path):
    code = main(["--out", str(tmp_path), "--steps", "2", "--batch", "1", "--songs", "2", "--device", "cpu",
                 "--dim", "32", "--layers", "1", "--decoder-dim", "32", "--decoder-layers", "1", "--heads", "2",
                 "--max-frames", "16", "--bank-clips", "1", "--boundary-weight", "4", "--key-weight", "2",
                 "--section-code-weight", "3"])
    assert code == 0
    assert (tmp_path / MODEL_DIR / "config.json").is_file()


def test_loss_matches_score_frames():
    """The training loss lines positions up exactly as the engine's teacher-forced scorer."""
    from heartmula_core.generation import Conditioning, score_frames

    examples, model, batch = _small_setup(layers=2, heads=4)
    with torch.no_grad():
        loss, _ = loss_fn(model, batch)
        scores = [score_frames(model, Conditioning(tuple(e.full.tokens.tolist()), e.full.muq_index, None),
                               e.frames, cfg_scale=1.0) for e in examples]
    assert loss.item() == pytest.approx(-torch.cat(scores).mean().item(), rel=1e-5)


def test_reference_rows_carry_bank_vectors_of_the_songs_tempo_and_mode():
    from heartmula_core.demo.reference_bank import ReferenceBank

    settings = TrainSettings(songs=6, max_frames=40)
    tok = demo_prompt_tokenizer()
    examples = make_examples(settings, tok)
    fpbs = sorted({e.fpb for e in examples})
    vectors, fpb, major = [], [], []
    for f in fpbs:
        for m in (False, True):
            v = torch.zeros(512)
            v[0], v[1], v[2] = 1.0, f, float(m)  # a vector that names its bucket
            vectors.append(v.numpy()), fpb.append(f), major.append(m)
    import numpy as np

    bank = ReferenceBank(np.stack(vectors), np.array(fpb), np.array(major))
    batch = make_batch(examples, list(range(6)) * 4, 0.0, torch.Generator().manual_seed(1), bank, 1.0, 1.0)
    chosen = (examples * 4)
    for row, example in enumerate(chosen):
        assert batch.reference[row, 1].item() == example.fpb
        assert batch.reference[row, 2].item() == float(example.major)
        plain = example.plain if example.plain is not None else example.full
        assert batch.prompt_lens[row].item() == len(plain.tokens)  # strip_chance 1: tags without tempo/mode
    none = make_batch(examples, [0, 1], 0.0, torch.Generator().manual_seed(1), bank, 0.0, 1.0)
    assert not none.reference.any()


def test_loss_with_a_reference_matches_score_frames():
    """A reference vector enters training exactly as the engine's conditioning applies it."""
    from heartmula_core.generation import Conditioning, score_frames

    examples, model, batch = _small_setup(layers=2, heads=4)
    vector = torch.randn(2, 512, generator=torch.Generator().manual_seed(5))
    batch.reference = vector
    with torch.no_grad():
        loss, _ = loss_fn(model, batch)
        scores = [score_frames(model, Conditioning(tuple(e.full.tokens.tolist()), e.full.muq_index, vector[i]),
                               e.frames, cfg_scale=1.0) for i, e in enumerate(examples)]
        plain_loss, _ = loss_fn(model, make_batch(examples, [0, 1], 0.0, torch.Generator().manual_seed(0)))
    assert loss.item() == pytest.approx(-torch.cat(scores).mean().item(), rel=1e-5)
    assert loss.item() != pytest.approx(plain_loss.item(), rel=1e-6)


def test_checkpoint_declares_the_reference_embedder(tiny_run):
    from heartmula_core.reference import AudioFeatureEmbedder, embedder_for_checkpoint

    _, root = tiny_run
    assert isinstance(embedder_for_checkpoint(root), AudioFeatureEmbedder)


def test_section_starts_mark_each_section_and_the_end():
    from heartmula_core.demo.composer import compose

    song = compose("pop, slow", "[verse]\nhello there my friend\n[chorus]\nsee you soon again\n[outro]\n", 3)
    frames = torch.cat([song.frames, torch.full((1, 8), AUDIO_EOS_ID)])[None]  # [1, T + 1, 8]
    starts = section_starts(frames)[0].nonzero().flatten().tolist()
    closing = song.section_frames[-1][1]  # the silent bar after the last section
    assert starts == [a for a, _ in song.section_frames] + [closing, len(song.frames)]


def test_next_section_pointer_reads_the_following_marker_then_the_end():
    from heartmula_core.demo.composer import compose
    from heartmula_core.demo.train import next_section_pointer

    lyrics = "[verse]\nhello there my friend\n[chorus]\nsee you soon again\n[outro]\n"
    song = compose("pop, slow", lyrics, 3)
    tok = demo_prompt_tokenizer()
    prompt = tok.encode("pop, slow", lyrics)
    words = [tok.tokenizer.id_to_token(i) for i in prompt.tokens]
    chorus, outro, end = words.index("chorus"), words.index("outro"), len(words) - 1
    pointer = next_section_pointer(prompt.tokens, prompt.lyrics_start, song.frames.numpy()).tolist()
    assert len(pointer) == len(song.frames) + 1 and words[end] == "<|end_of_text|>"
    (_, verse_end), (chorus_start, chorus_end), (outro_start, outro_end) = song.section_frames
    assert pointer[0] == words.index("verse")  # before anything is played: the first marker
    assert set(pointer[1:verse_end + 1]) == {chorus}  # the verse is followed by the chorus
    assert set(pointer[chorus_start + 1:chorus_end + 1]) == {outro}  # the chorus by the (instrumental) outro
    assert set(pointer[outro_start + 1:]) == {end}  # the outro, and the EOS frame, by the end of the text
    mismatched = next_section_pointer(prompt.tokens, prompt.lyrics_start, song.frames[:verse_end].numpy())
    assert (mismatched == -1).all()


def test_section_weight_adds_a_guided_attention_term():
    _, model, batch = _small_setup(layers=1, heads=8)
    assert (batch.section_pointer[:, 0] >= 0).all()
    with torch.no_grad():
        plain, parts = loss_fn(model, batch)
        guided, guided_parts = loss_fn(model, batch, section_weight=0.5)
    assert len(guided_parts) == len(parts) + 1 and guided_parts[-1] > 0
    assert guided.item() == pytest.approx(plain.item() + 0.5 * guided_parts[-1].item(), rel=1e-5)


def test_section_code_weight_adds_the_section_codebook_at_section_starts_only():
    _, model, batch = _small_setup(layers=1, heads=8)
    assert section_starts(batch.frames).any()
    with torch.no_grad():
        plain, parts = loss_fn(model, batch)
        one, one_parts = loss_fn(model, batch, section_code_weight=2.0)
        three, _ = loss_fn(model, batch, section_code_weight=4.0)
    assert one > plain and torch.equal(parts, one_parts)  # the reported per-codebook means are plain
    assert (three - plain).item() == pytest.approx(3 * (one - plain).item(), rel=1e-4)  # linear in the weight
    assert TrainSettings().section_code_weight == 1.0  # off unless asked for


def test_lookahead_pointer_points_past_the_syllable_being_held():
    from heartmula_core.demo.analysis import analyze_frames
    from heartmula_core.demo.composer import compose
    from heartmula_core.demo.train import sung_pointer

    lyrics = "[verse]\nhello there my friend\n"
    frames = compose("pop, slow", lyrics, 5).frames.numpy()
    prompt = demo_prompt_tokenizer().encode("pop, slow", lyrics)
    spans = analyze_frames(frames)["token_frames"]
    now = sung_pointer(prompt.tokens, prompt.lyrics_start, frames)
    ahead = sung_pointer(prompt.tokens, prompt.lyrics_start, frames, ahead=True)
    positions = sorted(set(now.tolist()) - {-1})
    assert len(positions) == len(spans) > 2
    for k, (start, end) in enumerate(spans):
        assert now[start] == ahead[start] == positions[k]  # at an onset both name the new syllable
        later = positions[k + 1] if k + 1 < len(spans) else -1
        assert set(ahead[start + 1:end].tolist()) <= {later}  # while held: the next one
    assert (ahead[spans[-1][0] + 1:] == -1).all()


def test_corpus_cache_round_trips(tmp_path):
    from heartmula_core.demo.train import cached_corpus, compose_corpus

    path = tmp_path / "corpus.safetensors"
    first = cached_corpus(path, 3, 7, 1)
    again = cached_corpus(path, 3, 7, 1)
    fresh = list(compose_corpus(3, 7, 1))
    for a, b in ((first, fresh), (again, fresh)):
        for x, y in zip(a, b):
            assert x[:2] == y[:2] and x[3:] == y[3:] and (x[2] == y[2]).all()
    other = cached_corpus(path, 2, 8, 1)  # other settings: composed again, cache replaced
    assert len(other) == 2 and other[0][0] == list(compose_corpus(1, 8, 1))[0][0]
    grammar = cached_corpus(path, 2, 8, 1, "grammar")  # other structures: composed again too
    assert [g[1] for g in grammar] == [c[1] for c in compose_corpus(2, 8, 1, "grammar")]
    assert [g[1] for g in grammar] != [o[1] for o in other]


def test_scheduled_sampling_replaces_only_lyric_ids_with_model_draws():
    from heartmula_core.demo.train import sampled_history

    _, model, batch = _small_setup(layers=1, heads=4)
    assert torch.equal(sampled_history(model, batch, 0.0, torch.Generator().manual_seed(1)), batch.frames)
    mixed = sampled_history(model, batch, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(mixed[..., 1:], batch.frames[..., 1:])
    assert (mixed[..., 0] != batch.frames[..., 0]).float().mean() > 0.5  # an untrained model draws at random
    assert (mixed[..., 0] < AUDIO_EOS_ID).all()
    batch.history = mixed
    with torch.no_grad():
        noisy, _ = loss_fn(model, batch)
        batch.history = None
        clean, _ = loss_fn(model, batch)
    assert noisy.item() != pytest.approx(clean.item(), rel=1e-6)  # the model reads the history, targets stay


def test_grown_backbone_computes_what_the_shallow_model_did(tmp_path):
    from heartmula_core.demo.train import load_initial_weights

    small = TrainSettings(songs=2, max_frames=40, dim=64, layers=2, decoder_dim=64, decoder_layers=1, heads=4)
    tok = demo_prompt_tokenizer()
    config = build_config(small, tok.tokenizer.get_vocab_size())
    shallow = random_heartmula(config, seed=3)
    root = write_checkpoint(tmp_path / "shallow", shallow, config, "float32")
    deep_settings = TrainSettings(**{**small.__dict__, "layers": 4})
    deep = random_heartmula(build_config(deep_settings, tok.tokenizer.get_vocab_size()), seed=4)
    load_initial_weights(deep, root)
    assert torch.equal(deep.backbone.layers[3].mlp.w1.weight, shallow.backbone.layers[1].mlp.w1.weight)
    assert not deep.backbone.layers[2].mlp.w2.weight.any()
    batch = make_batch(make_examples(small, tok), [0, 1], 0.0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert loss_fn(deep, batch)[0].item() == pytest.approx(loss_fn(shallow, batch)[0].item(), rel=1e-5)


def test_length_buckets_partition_the_songs_and_fit_their_batches():
    """Each song is in one bucket; a bucket's shape holds every song in it (shorter buckets get
    smaller shapes); a draw comes from one bucket; padding to the shape leaves the loss alone."""
    from heartmula_core.demo.train import length_buckets

    settings = TrainSettings(songs=12, max_frames=300, dim=64, layers=1, decoder_dim=64, decoder_layers=1, heads=4)
    tok = demo_prompt_tokenizer()
    examples = make_examples(settings, tok)
    buckets = length_buckets(examples, 3)
    assert sorted(i for part in buckets.members for i in part.tolist()) == list(range(12))
    assert [len(part) for part in buckets.members] == [4, 4, 4]
    for index, (part, (width, length)) in enumerate(zip(buckets.members, buckets.shapes)):
        assert all(buckets.bucket_of[i] == index for i in part)
        assert all(len(examples[i].full.tokens) <= width and examples[i].frames.shape[0] <= length for i in part)
    assert sum(buckets.shapes[0]) < sum(buckets.shapes[-1])
    generator = torch.Generator().manual_seed(5)
    for _ in range(10):
        indices, shape = buckets.draw(6, generator)
        assert len(indices) == 6 and len({int(buckets.bucket_of[i]) for i in indices}) == 1
        assert shape == buckets.shapes[int(buckets.bucket_of[indices[0]])]
    again = length_buckets(examples, 3).draw(6, torch.Generator().manual_seed(5))
    assert again == length_buckets(examples, 3).draw(6, torch.Generator().manual_seed(5))
    model = random_heartmula(build_config(settings, tok.tokenizer.get_vocab_size()), seed=3)
    ragged = make_batch(examples, indices, 0.0, torch.Generator().manual_seed(0))
    padded = make_batch(examples, indices, 0.0, torch.Generator().manual_seed(0), shape=shape)
    with torch.no_grad():
        assert loss_fn(model, padded, 1.0)[0].item() == pytest.approx(loss_fn(model, ragged, 1.0)[0].item(), rel=1e-5)


RESUMABLE = TrainSettings(steps=12, batch=2, device="cpu", dim=64, layers=1, decoder_dim=32, decoder_layers=1,
                          heads=8, songs=4, max_frames=24, lr=3e-3, warmup=2, log_every=4, bank_clips=1,
                          reference_chance=0.5, section_weight=1.0, ahead_weight=1.0, history_noise=0.3, ema=0.9)


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_stopped_and_resumed_run_ends_exactly_where_one_run_does(tmp_path):
    """Stopped after 5 of 12 steps and resumed: same losses, same final weights (bit for bit on
    the CPU), because the batches, optimizer moments and generators go on where they stopped."""
    settings = TrainSettings(**{**RESUMABLE.__dict__, "bank": str(tmp_path / "bank.safetensors")})
    whole = train(settings)
    state = tmp_path / "run.train-state.safetensors"
    first = train(settings, tmp_path / "run", state, stop=lambda done: done == 5)
    assert not first.finished and first.steps_done == 5 and state.is_file()
    assert (tmp_path / "run" / MODEL_DIR / "model.safetensors").is_file()  # a stopped run leaves a model
    second = train(settings, tmp_path / "run", state, resume=True)
    assert second.finished and second.steps_done == 12 and second.seconds >= first.seconds
    assert first.losses + second.losses == whole.losses
    assert torch.equal(_weights(second.model), _weights(whole.model))
    # resuming a finished run trains nothing more and gives the same model back
    again = train(settings, tmp_path / "run", state, resume=True)
    assert again.finished and again.losses == [] and torch.equal(_weights(again.model), _weights(whole.model))


def test_resume_refuses_a_state_of_other_settings_and_names_them(tmp_path):
    from heartmula_core.demo.train_state import ResumeMismatch

    state = tmp_path / "s.safetensors"
    settings = TrainSettings(**{**RESUMABLE.__dict__, "reference_chance": 0.0})
    train(settings, None, state, stop=lambda done: done == 2)
    other = TrainSettings(**{**settings.__dict__, "lr": 1e-3, "save_every": 7})  # save_every may change
    with pytest.raises(ResumeMismatch, match=r"lr: saved 0\.003, now 0\.001") as error:
        train(other, None, state, resume=True)
    assert "save_every" not in str(error.value)
    state.write_bytes(state.read_bytes()[:1000])  # truncated by a crash of the disk, say
    with pytest.raises(ValueError, match="cannot be read as a training state"):
        train(settings, None, state, resume=True)


def test_cli_time_limit_stops_with_status_75_and_resume_finishes(tmp_path):
    from heartmula_core.demo.train import EXIT_STOPPED

    out = tmp_path / "model"
    args = ["--out", str(out), "--steps", "3", "--batch", "1", "--songs", "2", "--device", "cpu", "--dim", "32",
            "--layers", "1", "--decoder-dim", "32", "--decoder-layers", "1", "--heads", "2", "--max-frames", "16",
            "--bank-clips", "1", "--reference-chance", "0"]
    assert main([*args, "--time-limit", "1e-9"]) == EXIT_STOPPED  # stops after its first step
    state = tmp_path / "model.train-state.safetensors"
    assert state.is_file() and (out / MODEL_DIR / "model.safetensors").is_file()
    assert main([*args, "--resume"]) == 0
    from heartmula_core.demo.train_state import TrainState  # noqa: F401  (the format is documented there)
    import safetensors

    with safetensors.safe_open(str(state), "pt") as handle:
        assert handle.metadata()["step"] == "3"


def test_weight_average_follows_the_documented_rule_and_swaps_in_and_out():
    from heartmula_core.demo.train import WeightAverage

    model = torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in model.parameters()]
    average = WeightAverage(model, decay=0.99)
    assert average.rate(0) == pytest.approx(0.9) and average.rate(10_000) == pytest.approx(0.01)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(0)  # 10% of the way to the new weights
    for a, s0 in zip(average.average, start):
        assert torch.allclose(a, s0 + 0.9)
    trained = [p.detach().clone() for p in model.parameters()]
    replaced = average.apply()
    assert all(torch.equal(p, a) for p, a in zip(model.parameters(), average.average))
    average.restore(replaced)
    assert all(torch.equal(p, t) for p, t in zip(model.parameters(), trained))
    with pytest.raises(ValueError):
        WeightAverage(model, decay=1.0)


def test_an_averaged_run_writes_the_average_as_its_model(tmp_path):
    plain = train(TrainSettings(**{**RESUMABLE.__dict__, "ema": 0.0, "reference_chance": 0.0}))
    averaged = train(TrainSettings(**{**RESUMABLE.__dict__, "reference_chance": 0.0}), tmp_path / "m")
    assert plain.losses == averaged.losses  # the same training; only the written weights differ
    assert not torch.equal(_weights(plain.model), _weights(averaged.model))
