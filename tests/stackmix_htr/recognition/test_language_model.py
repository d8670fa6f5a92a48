"""Word n-gram language models: the ARPA writer, beam search with and without a model, the build command."""

import gzip
import json
import os
import stat
import subprocess
import sys

import datasets
import kenlm
import numpy as np
import pytest
from support import REPO_ROOT
from support.language_models import write_language_model

from modeling_stackmix_htr import StackMixHTRProcessor
from modeling_stackmix_htr.ctc_beam_search import LanguageModelSettings
from stackmix_htr.cli.lm import run as lm_main
from stackmix_htr.recognition.kneser_ney import FALLBACK_DISCOUNTS, KneserNeyModel, discounts_from_counts_of_counts

TEXTS = ["deus et homo", "dcus"]


def peaked_logits(processor, frames: list[str], rng, confidence: float = 9.0) -> np.ndarray:
    """Logits (1, T, V) whose frame t clearly prefers class frames[t] ("" = blank), on top of unit noise."""
    vocab = processor.tokenizer.get_vocab()
    logits = rng.normal(0.0, 1.0, (len(frames), len(vocab)))
    for index, char in enumerate(frames):
        logits[index, vocab[char] if char else processor.blank_id] += confidence
    return logits[None]


def spell(text: str) -> list[str]:
    """CTC frames for `text`: each character followed by a blank."""
    return [frame for char in text for frame in (char, "")]


# ----------------------------------------------------------------------------- the ARPA writer


def test_hand_written_arpa_loads_in_kenlm_with_hand_computed_probabilities(tmp_path):
    # Corpus "a b a" / "b a", order 3. Continuation counts: unigrams a 2, b 2, </s> 1 (and <s>);
    # bigrams <s> a 1, <s> b 1 (raw: nothing precedes <s>), a b 1, b a 2, a </s> 1.
    # Counts of counts are too few for Chen and Goodman's formula: discounts 0.5, 1, 1.5.
    # Unigrams: p(a) = p(b) = (2 - 1)/5 + gamma/4 = 0.2 + 0.5/4 = 0.325 with gamma = (0.5*1 + 1*2)/5,
    #   p(</s>) = 0.5/5 + 0.125 = 0.225, p(<unk>) = 0.125 (4 = a, b, </s>, <unk>).
    # Bigrams: p(a|<s>) = 0.5/2 + 0.5 * 0.325 = 0.4125 (gamma(<s>) = 0.5 * 2/2), p(b|a) = 0.4125,
    #   p(</s>|a) = 0.25 + 0.5 * 0.225 = 0.3625, p(a|b) = 1/2 + 0.5 * 0.325 = 0.6625.
    # Trigrams: p(b|<s> a) = 0.5 + 0.5 * 0.4125 = 0.70625, p(a|a b) = 0.5 + 0.5 * 0.6625 = 0.83125,
    #   p(</s>|b a) = (2 - 1)/2 + 0.5 * 0.3625 = 0.68125.
    model = KneserNeyModel(3)
    for sentence in ("a b a", "b a"):
        model.add_sentence(sentence.split())
    arpa = tmp_path / "toy.arpa"
    with open(arpa, "w", encoding="utf-8") as handle:
        model.write_arpa(handle)
    lm = kenlm.Model(str(arpa))
    assert lm.order == 3

    def probability(sentence):
        return 10 ** lm.score(sentence, bos=True, eos=True)

    assert probability("a b a") == pytest.approx(0.4125 * 0.70625 * 0.83125 * 0.68125, rel=1e-5)
    # Back-off: p(b|<s> b) = gamma(<s> b) * gamma(b) * p(b) = 0.5 * 0.5 * 0.325;
    # p(</s>|b b) has no context "b b": gamma(b) * p(</s>) = 0.5 * 0.225.
    assert probability("b b") == pytest.approx(0.4125 * (0.5 * 0.5 * 0.325) * (0.5 * 0.225), rel=1e-5)
    # An unknown word: gamma(<s>) * p(<unk>), then p(</s>) from the empty context.
    assert probability("zzz") == pytest.approx(0.5 * 0.125 * 0.225, rel=1e-5)


def test_discounts_follow_chen_and_goodman_and_fall_back_when_undefined():
    # t1..t4 = 10, 4, 2, 1: Y = 10 / 18; D1 = 1 - 2Y*4/10, D2 = 2 - 3Y*2/4, D3+ = 3 - 4Y*1/2.
    y = 10 / 18
    assert discounts_from_counts_of_counts({1: 10, 2: 4, 3: 2, 4: 1}) == pytest.approx(
        (1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y / 2)
    )
    assert discounts_from_counts_of_counts({1: 10, 2: 4, 3: 2}) == FALLBACK_DISCOUNTS


def test_kneser_ney_distributions_sum_to_one_in_every_context(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(80)]
    weights = 1 / np.arange(1, 81)
    model = KneserNeyModel(3)
    for _ in range(300):  # enough text for Chen and Goodman's discounts at every order
        model.add_sentence(rng.choice(words, size=rng.integers(1, 9), p=weights / weights.sum()).tolist())
    arpa = tmp_path / "zipf.arpa"
    with open(arpa, "w", encoding="utf-8") as handle:
        model.write_arpa(handle)
    assert len(model.discounts) == 3 and FALLBACK_DISCOUNTS not in model.discounts
    lm = kenlm.Model(str(arpa))
    predictable = model.words + ["</s>", "<unk>"]
    for context in ([], ["w0"], ["w3", "w1"], ["w79", "w79"], ["<s>"], ["<s>", "w2"], ["w0", "w0"]):
        state = kenlm.State()
        if context[:1] == ["<s>"]:
            lm.BeginSentenceWrite(state)
            context = context[1:]
        else:
            lm.NullContextWrite(state)
        for word in context:
            next_state = kenlm.State()
            lm.BaseScore(state, word, next_state)
            state = next_state
        total = sum(10 ** lm.BaseScore(state, word, kenlm.State()) for word in predictable)
        assert total == pytest.approx(1.0, abs=1e-5), context


# ----------------------------------------------------------------------------- beam search


@pytest.fixture()
def processor():
    return StackMixHTRProcessor.from_texts(TEXTS, image_height=32, max_width=256)


def test_beam_search_without_language_model_equals_greedy_on_peaked_outputs(processor):
    rng = np.random.default_rng(0)
    alphabet = sorted(set("".join(TEXTS)))
    for _ in range(50):
        frames = []
        for char in rng.choice(alphabet, size=rng.integers(1, 15)):
            frames += [char] * rng.integers(1, 3) + [""] * rng.integers(0, 2)  # repeats and doubled letters
        logits = peaked_logits(processor, frames, rng)
        greedy = processor.batch_decode(logits)
        assert processor.batch_decode(logits, decoder="beam", beam_width=4) == greedy
        assert processor.batch_decode(logits, decoder="beam", beam_width=1) == greedy


def test_beam_search_honours_output_lengths(processor):
    rng = np.random.default_rng(1)
    logits = np.concatenate(
        [peaked_logits(processor, spell("deus"), rng), peaked_logits(processor, spell("dcus"), rng)]
    )
    lengths = np.array([4, 8])  # the first line's last frames are padding
    assert processor.batch_decode(logits, output_lengths=lengths, decoder="beam") == ["de", "dcus"]


def ambiguous_deus(processor, rng) -> np.ndarray:
    """ "dcus" by a small margin: the second letter's frame slightly prefers "c" to "e"."""
    logits = peaked_logits(processor, spell("dcus"), rng)
    vocab = processor.tokenizer.get_vocab()
    logits[0, 2, vocab["e"]] = logits[0, 2, vocab["c"]] - 0.5
    return logits


def test_language_model_picks_the_in_vocabulary_word(processor, tmp_path):
    rng = np.random.default_rng(2)
    logits = ambiguous_deus(processor, rng)
    assert processor.batch_decode(logits) == ["dcus"]
    assert processor.batch_decode(logits, decoder="beam") == ["dcus"]  # no language model yet
    processor.attach_language_model(write_language_model(tmp_path / "language_model", ["deus et homo", "et deus"]))
    assert processor.batch_decode(logits, decoder="beam") == ["deus"]
    assert processor.batch_decode(logits) == ["dcus"]  # greedy ignores it
    # With no weight on the model the acoustic choice wins again.
    assert processor.batch_decode(logits, decoder="beam", alpha=0.0, beta=0.0) == ["dcus"]


def test_a_gzipped_arpa_model_decodes_as_the_plain_one(processor, tmp_path):
    rng = np.random.default_rng(2)
    logits = ambiguous_deus(processor, rng)
    folder = write_language_model(tmp_path / "language_model", ["deus et homo", "et deus"])
    plain = folder / "2gram.arpa"
    (folder / "2gram.arpa.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    processor.attach_language_model(folder)
    assert processor.batch_decode(logits, decoder="beam") == ["deus"]


def test_language_model_folder_round_trips_through_save_and_from_pretrained(processor, tmp_path):
    rng = np.random.default_rng(3)
    logits = ambiguous_deus(processor, rng)
    folder = write_language_model(tmp_path / "source" / "language_model", ["deus et homo"], alpha=0.7, beta=0.3)
    processor.attach_language_model(folder)
    processor.decoder, processor.beam_width = "beam", 5
    processor.save_pretrained(tmp_path / "saved")
    # pyctcdecode's (and Wav2Vec2ProcessorWithLM's) layout: alphabet.json + exactly three files in language_model/.
    alphabet = json.loads((tmp_path / "saved" / "alphabet.json").read_text(encoding="utf-8"))
    assert alphabet == {"labels": ["", " ", "c", "d", "e", "h", "m", "o", "s", "t", "u", "⁇"], "is_bpe": False}
    assert sorted(os.listdir(tmp_path / "saved" / "language_model")) == ["2gram.arpa", "attrs.json", "unigrams.txt"]

    loaded = StackMixHTRProcessor.from_pretrained(tmp_path / "saved")
    assert loaded.has_language_model and (loaded.decoder, loaded.beam_width) == ("beam", 5)
    assert loaded.lm_settings == LanguageModelSettings(alpha=0.7, beta=0.3)
    assert loaded.language_model.words == {"deus", "et", "homo"}
    assert loaded.batch_decode(logits) == ["deus"]
    # Saving into its own folder keeps the model and rewrites the settings.
    loaded.lm_settings.alpha = 1.5
    loaded.save_pretrained(tmp_path / "saved")
    assert StackMixHTRProcessor.from_pretrained(tmp_path / "saved").lm_settings.alpha == 1.5
    # Saving over a folder with an older model replaces it whole.
    write_language_model(tmp_path / "other" / "language_model", ["homo"], order=3)
    stale = StackMixHTRProcessor.from_pretrained(tmp_path / "saved")
    stale.attach_language_model(tmp_path / "other" / "language_model")
    stale.save_pretrained(tmp_path / "saved")
    assert sorted(os.listdir(tmp_path / "saved" / "language_model")) == ["3gram.arpa", "attrs.json", "unigrams.txt"]


def test_without_kenlm_beam_search_with_a_language_model_names_the_extra_and_greedy_works(
    processor, tmp_path, monkeypatch
):
    rng = np.random.default_rng(4)
    logits = ambiguous_deus(processor, rng)
    processor.attach_language_model(write_language_model(tmp_path / "language_model", ["deus"]))
    monkeypatch.setitem(sys.modules, "kenlm", None)  # import kenlm now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'stackmix-htr\[lm\]'"):
        processor.batch_decode(logits, decoder="beam")
    assert processor.batch_decode(logits) == ["dcus"]


def test_decoding_options_are_checked(processor):
    logits = peaked_logits(processor, spell("deus"), np.random.default_rng(5))
    with pytest.raises(ValueError, match="unknown decoder 'viterbi'"):
        processor.batch_decode(logits, decoder="viterbi")
    with pytest.raises(ValueError, match="beam_width must be a positive integer"):
        processor.batch_decode(logits, decoder="beam", beam_width=0)
    with pytest.raises(ValueError, match="this decoding has none"):
        processor.batch_decode(logits, decoder="beam", alpha=1.0)


# ----------------------------------------------------------------------------- the build command


def test_build_writes_the_language_model_in_the_transcription_conventions(tmp_path, capsys):
    texts = ["haberetur. & veluti homo", "&iam itaq. deus"]  # Saint Gall's "&" for "et", "q." for "-que"
    checkpoint = tmp_path / "checkpoint"
    StackMixHTRProcessor.from_texts(texts, text_rules="saintgall").save_pretrained(checkpoint)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("etiam deus et homo\nitaque   veluti\nKyrie eleison\n\n", encoding="utf-8")
    dataset = tmp_path / "dataset"
    (dataset / "data").mkdir(parents=True)
    datasets.Dataset.from_dict({"text": ["haberetur. & veluti"]}).to_parquet(
        str(dataset / "data" / "train-00000-of-00001.parquet")
    )

    argv = ["build", "--model", str(checkpoint), "--corpus", str(corpus), "--dataset", str(dataset), "--order", "2"]
    assert lm_main(argv) == 0
    assert "corpus lines kept 2, skipped 1 " in capsys.readouterr().out  # "Kyrie" has a K the model cannot emit
    folder = checkpoint / "language_model"
    assert sorted(os.listdir(folder)) == ["2gram.arpa", "attrs.json", "unigrams.txt"]
    assert stat.S_IMODE(folder.stat().st_mode) & 0o055 == 0o055  # readable by others, like the rest of the checkpoint
    words = set((folder / "unigrams.txt").read_text(encoding="utf-8").split())
    assert words == {"&iam", "deus", "&", "homo", "itaq.", "veluti", "haberetur."}
    lm = kenlm.Model(str(folder / "2gram.arpa"))
    assert lm.score("deus & homo") > lm.score("homo & deus")
    processor = StackMixHTRProcessor.from_pretrained(checkpoint)
    assert processor.has_language_model and processor.decoder == "greedy"  # beam becomes the default by tuning

    # A dataset whose scribe spells "et" out at a word's start: the corpus follows it there.
    datasets.Dataset.from_dict({"text": ["etiam & veluti", "deus etiam"]}).to_parquet(
        str(dataset / "data" / "train-00000-of-00001.parquet")
    )
    assert lm_main([*argv, "--overwrite"]) == 0
    assert "corpus spelling: 'et' written '&': word 100% (1/1), start 0% (0/2)" in capsys.readouterr().out
    words = set((folder / "unigrams.txt").read_text(encoding="utf-8").split())
    assert {"etiam", "&", "itaq."} <= words and "&iam" not in words

    # An existing model is kept unless --overwrite; bad input exits with 2 and one line.
    assert lm_main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert lm_main(["build", "--model", str(checkpoint), "--corpus", str(tmp_path / "missing.txt"), "--overwrite"]) == 2
    assert "missing.txt: file not found" in capsys.readouterr().err
    assert sorted(os.listdir(folder)) == ["2gram.arpa", "attrs.json", "unigrams.txt"]


def test_build_from_the_train_transcriptions_alone(tmp_path, capsys):
    """A new collection without a corpus of its language: the model is its transcriptions' words, each once."""
    checkpoint = tmp_path / "checkpoint"
    StackMixHTRProcessor.from_texts(["le notaire soussigné", "Paris"]).save_pretrained(checkpoint)
    dataset = tmp_path / "dataset"
    (dataset / "data").mkdir(parents=True)
    datasets.Dataset.from_dict({"text": ["le notaire", "Paris le notaire", ""]}).to_parquet(
        str(dataset / "data" / "train-00000-of-00001.parquet")
    )
    assert lm_main(["build", "--model", str(checkpoint), "--dataset", str(dataset), "--order", "2"]) == 0
    output = capsys.readouterr().out
    assert "of 2 lines and 3 distinct words; corpus lines kept 0, skipped 0" in output and "dataset lines 2" in output
    lm = kenlm.Model(str(checkpoint / "language_model" / "2gram.arpa"))
    assert lm.score("le notaire") > lm.score("notaire le")

    with pytest.raises(SystemExit) as error:
        lm_main(["build", "--model", str(checkpoint)])
    assert error.value.code == 2
    assert "give --corpus, --dataset (its train transcriptions), or both" in capsys.readouterr().err


def test_a_corpus_that_is_not_utf8_is_reported_at_its_line(tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint"
    StackMixHTRProcessor.from_texts(["homo deus"]).save_pretrained(checkpoint)
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"deus\n" * 5000 + b"homo d\xe9us\n" + b"deus\n" * 10)  # Latin-1 at line 5001
    assert lm_main(["build", "--model", str(checkpoint), "--corpus", str(corpus)]) == 2
    assert (
        f"corpus {corpus}: line 5001 is not UTF-8 text (invalid continuation byte at byte 6" in capsys.readouterr().err
    )


def test_build_runs_lmplz_when_it_is_on_the_path(tmp_path, monkeypatch):
    # A stand-in lmplz that records its arguments and writes a prepared bigram model.
    prepared = write_language_model(tmp_path / "prepared", ["homo deus"]) / "2gram.arpa"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lmplz").write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/arguments\nwhile [ "$1" != "--arpa" ]; do shift; done\ncp {prepared} "$2"\n'
    )
    (bin_dir / "lmplz").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    checkpoint = tmp_path / "checkpoint"
    StackMixHTRProcessor.from_texts(["homo deus"]).save_pretrained(checkpoint)
    (tmp_path / "corpus.txt").write_text("deus\n", encoding="utf-8")
    assert lm_main(["build", "--model", str(checkpoint), "--corpus", str(tmp_path / "corpus.txt"), "--order", "4"]) == 0
    assert (tmp_path / "arguments").read_text().startswith("--order 4 --discount_fallback --text ")
    assert (checkpoint / "language_model" / "4gram.arpa").read_text() == prepared.read_text()


def test_build_command_line_entry_point(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "stackmix_htr.cli.lm",
            "build",
            "--model",
            str(tmp_path),
            "--corpus",
            "x",
            "--order",
            "1",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "--order must be at least 2" in completed.stderr
