"""StackMix texts and schedule: corpus spelling, character coverage, replace/add modes and the warm-up."""

import logging

import numpy as np
import pytest
from PIL import Image
from support.banks import glyph_line

from augmentations.stackmix import CorpusCoverageError, StackMixReplacement, build_text_source, load_corpus


def test_corpus_in_the_manuscript_spelling(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("et deus dixit\nfiat lux et lux facta est\nest itaque\n", encoding="utf-8")
    training = ["& deus", "fiat lux", "dixit &", "est itaque"]  # this scribe writes "-que" in full
    charset = set("".join(training)) | set("fcetx")
    loaded = load_corpus(corpus, charset, text_rules="saintgall", training_texts=training)
    assert loaded.texts == ["& deus dixit", "fiat lux & lux facta est", "est itaque"]
    # Without the profile's rule the corpus never produces "&": it is filtered to the bank's
    # characters but the "&" of the training texts is missing, so it is refused with the list.
    with pytest.raises(CorpusCoverageError, match="'&'"):
        load_corpus(corpus, charset, text_rules="none", training_texts=training)


def test_coverage_warns_below_all_and_refuses_below_95_percent(tmp_path, caplog):
    letters = "abcdefghijklmnopqrstuvwxyz"
    training = [letters, "z"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(letters[:-1] + "\n", encoding="utf-8")  # 25 of 26 characters: 96 %
    with caplog.at_level(logging.WARNING):
        load_corpus(corpus, set(letters), training_texts=training)
    assert "never produces 1 training character(s): 'z'" in caplog.text
    corpus.write_text(letters[:-2] + "\n", encoding="utf-8")  # 24 of 26: 92 %
    with pytest.raises(CorpusCoverageError, match="92.3% of the 26 characters.*'y' 'z'"):
        load_corpus(corpus, set(letters), training_texts=training)


def test_text_source_mixes_corpus_and_recombined_texts(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ab dc\n", encoding="utf-8")  # a line the bigram walk cannot make: "ab" is followed by "cd"
    training = ["ab cd", "cd ab", "dc"]
    rng = np.random.default_rng(0)
    only_training = build_text_source(training, "abcd ", corpus=None)
    assert all(set(only_training.sample(rng).split()) <= {"ab", "cd", "dc"} for _ in range(20))
    mixed = build_text_source(training, "abcd ", corpus=corpus, corpus_mix=0.25)
    draws = [mixed.sample(rng) for _ in range(800)]
    assert draws.count("ab dc") / 800 == pytest.approx(0.25, abs=0.05)
    assert build_text_source(training, "abcd ", corpus=corpus, corpus_mix=1.0).sample(rng) == "ab dc"


def batch(size: int) -> dict:
    return {
        "image": [Image.fromarray(glyph_line("abc"))] * size,
        "text": ["abc"] * size,
        "sample_id": [f"real-{index}" for index in range(size)],
    }


def generated_per_epoch(transform: StackMixReplacement, epoch: int, batches: int = 25, size: int = 8) -> int:
    transform.set_epoch(epoch)
    outputs = [transform(batch(size)) for _ in range(batches)]
    return sum(sample_id.startswith("stackmix-") for output in outputs for sample_id in output["sample_id"])


def test_replace_and_add_modes_give_the_expected_number_of_lines(bank_dir):  # noqa: F811
    lines = 25 * 8
    replace = StackMixReplacement(bank_dir, p=0.5, seed=0)
    assert generated_per_epoch(replace, 0) == pytest.approx(0.5 * lines, rel=0.2)
    add = StackMixReplacement(bank_dir, mode="add", ratio=0.75, seed=0)
    add.set_epoch(0)
    grown = add(batch(8))
    assert len(grown["text"]) in (14, 15)  # 8 real + 6 (or 7, the fractional line) generated
    assert grown["sample_id"][:8] == batch(8)["sample_id"]  # the real lines stay, in order
    assert generated_per_epoch(add, 1) == pytest.approx(0.75 * lines, rel=0.1)


def test_warm_up_starts_late_and_ramps_linearly(bank_dir):  # noqa: F811
    transform = StackMixReplacement(bank_dir, mode="add", ratio=1.0, start_epoch=2, ramp_epochs=4, seed=0)
    assert [transform.strength(epoch) for epoch in range(8)] == [0, 0, 0.25, 0.5, 0.75, 1, 1, 1]
    assert generated_per_epoch(transform, 1) == 0
    assert generated_per_epoch(transform, 3) == pytest.approx(0.5 * 200, rel=0.15)
    assert generated_per_epoch(transform, 6) == pytest.approx(200, rel=0.1)


def test_schedule_reproduces_per_seed_rank_and_epoch(bank_dir):  # noqa: F811
    def run(seed=0, rank=0, epoch=3):
        transform = StackMixReplacement(bank_dir, mode="add", ratio=0.5, ramp_epochs=2, seed=seed, rank=rank)
        transform.set_epoch(epoch)
        return [tuple(transform(batch(6))["text"]) for _ in range(4)]

    assert run() == run()
    assert run() != run(seed=1) and run() != run(rank=1) and run() != run(epoch=4)
