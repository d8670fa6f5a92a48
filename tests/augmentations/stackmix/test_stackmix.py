"""StackMix: token bank, trie tokenizer, generator, training replacement, end-to-end plumbing."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support import REPO_ROOT
from support.banks import BANK_HEIGHT, GLYPH_WIDTH, glyph_line, write_dataset, write_glyph_masks

from augmentations.stackmix import (
    BankError,
    RecombinedTexts,
    StackMixGenerator,
    StackMixReplacement,
    TokenBank,
    TokenTrie,
    build_bank,
    load_corpus,
    smooth_background,
    write_line,
)
from augmentations.stackmix.bank import BANK_INFO_FILE
from data_builders import InputError, load_dataset_folder_or_hub


@pytest.fixture(scope="module")
def generator(bank_dir):
    return StackMixGenerator.from_bank(bank_dir, seed=0)


def test_bank_caps_slices_per_token_and_lines_per_text(tmp_path):
    # 60 copies of one line (only 50 may be used) and 80 distinct lines all containing "xy" twice.
    texts = ["xy yx"] * 60 + [f"xy{chr(97 + index % 26)}{chr(97 + index // 26)}xy" for index in range(80)]
    write_dataset(tmp_path / "dataset", texts)
    write_glyph_masks(tmp_path / "masks", texts)
    info = build_bank(tmp_path / "masks", tmp_path / "dataset", tmp_path / "bank", height=BANK_HEIGHT)
    tokens = load_dataset_folder_or_hub(tmp_path / "bank", "tokens", split="train").to_pandas()
    lines = load_dataset_folder_or_hub(tmp_path / "bank", "lines", split="train")
    assert lines.num_rows == info["num_lines"] == 50 + 80
    assert (tokens["token"] == "xy yx").sum() == 50  # one slice per line, from at most 50 identical lines
    counts = tokens["token"].value_counts()
    assert counts["xy"] == 100 and counts["x"] == 100  # 50 * 2 + 80 * 2 = 260 candidates, capped
    assert counts.max() == 100
    assert (tokens["width"] == tokens["x2"] - tokens["x1"]).all()
    assert (tokens["width"] == GLYPH_WIDTH * tokens["n"]).all()
    assert set(info["characters"]) == set("xy abcdefghijklmnopqrstuvwxyz") & set("".join(texts))
    card = (tmp_path / "bank" / "README.md").read_text()
    assert "config_name: tokens" in card and "config_name: lines" in card


def test_bank_lines_are_centred_on_their_ink(bank_dir):
    bank = TokenBank.load(bank_dir)
    assert bank.background == 255 and bank.height == BANK_HEIGHT
    for index in range(len(bank.texts)):
        line = bank.line_image(index)
        rows = np.flatnonzero((line < 128).any(axis=1))
        assert line.shape[0] == BANK_HEIGHT
        assert rows.size == 0 or abs((rows[0] + rows[-1]) / 2 - BANK_HEIGHT // 2) <= 1


def test_trie_longest_match_with_max_length_and_spaces():
    trie = TokenTrie(["a", "b", " ", "ab", "abc", "c a", "ca", "abca"])
    assert trie.tokenize("abcab") == ["abca", "b"]
    assert trie.tokenize("abcab", max_length=3) == ["abc", "ab"]
    assert trie.tokenize("abcab", max_length=1) is None  # "c" alone is not a token
    assert trie.tokenize("c ab", max_length=3) == ["c a", "b"]
    assert trie.tokenize("ab ab", max_length=2) == ["ab", " ", "ab"]
    assert trie.tokenize("abd") is None
    assert "c a" in trie and "c " not in trie and "" not in trie


def test_generated_line_is_the_concatenation_of_slices(generator):
    text = "dab cab abc"
    for seed in range(5):
        image, tokens = generator.generate_with_tokens(text, rng=np.random.default_rng(seed))
        assert "".join(tokens) == text
        assert image.dtype == np.uint8 and image.shape[0] == BANK_HEIGHT
        # Every glyph cell is 10 px wide; neighbours share one column.
        assert image.shape[1] == GLYPH_WIDTH * len(text) - (len(tokens) - 1)
        assert all(token in generator.bank.slices for token in tokens)
    # The ink left to right reads the text back: one grey level per glyph, in order.
    image, tokens = generator.generate_with_tokens("dab", rng=np.random.default_rng(0))
    columns = image.min(axis=0)
    greys = [
        int(value) for index, value in enumerate(columns) if value < 255 and (index == 0 or columns[index - 1] != value)
    ]
    assert greys == [ord(char) % 100 for char in "dab"]


def test_generate_returns_none_for_missing_characters(generator):
    assert generator.generate("abz") is None
    assert generator.generate("") is None
    assert not generator.can_render("abz") and generator.can_render("ab cd")


def test_background_smoothing_keeps_ink_and_blends_backgrounds():
    image = np.full((20, 200), 200, dtype=np.uint8)
    image[:, 100:] = 240  # two slices from pages of different brightness
    image[8:12, 20:30] = 10
    image[8:12, 150:160] = 20
    smoothed = smooth_background(image, window=32, background=255)
    ink = image < 100
    assert np.array_equal(smoothed[ink], image[ink])
    assert smoothed[0, 50] == 200 and smoothed[0, 180] == 240  # far from the seam: the local background
    assert 200 < smoothed[0, 100] < 240  # at the seam: a blend
    assert np.all(np.diff(smoothed[0].astype(int)) >= 0)  # no step left, only a ramp
    rgb = smooth_background(np.repeat(image[:, :, None], 3, axis=2), window=32, background=255)
    assert np.array_equal(rgb[:, :, 1], smoothed)


def test_generation_is_seedable(bank_dir):
    first = StackMixGenerator.from_bank(bank_dir, seed=3)
    second = StackMixGenerator.from_bank(bank_dir, seed=3)
    images = [first.generate("abc dab cc"), second.generate("abc dab cc")]
    assert np.array_equal(*images)


def test_missing_or_corrupt_bank_gives_clear_errors(bank_dir, tmp_path):
    with pytest.raises(BankError, match="does not exist"):
        TokenBank.load(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in bank_dir.iterdir():
        target = broken / item.name
        if item.is_dir():
            target.mkdir()
            for shard in item.iterdir():
                target.joinpath(shard.name).write_bytes(shard.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    (broken / BANK_INFO_FILE).write_text("{not json")
    with pytest.raises(BankError, match=BANK_INFO_FILE):
        TokenBank.load(broken)
    (broken / BANK_INFO_FILE).write_text((bank_dir / BANK_INFO_FILE).read_text())
    shard = next((broken / "tokens").glob("*.parquet"))
    shard.write_bytes(b"this is not parquet")
    with pytest.raises(BankError, match="tokens"):
        TokenBank.load(broken)
    for stale in (broken / "tokens").iterdir():
        stale.unlink()
    with pytest.raises(BankError, match="no Parquet shards"):
        TokenBank.load(broken)


def test_build_bank_refuses_char_masks_of_another_version_of_the_dataset(tmp_path):
    write_dataset(tmp_path / "dataset", ["abc abd", "bad cba", "dab", "a cd"])
    write_glyph_masks(tmp_path / "masks", ["abc abd", "bad cab", "dab", "a  cd"])  # the same ids, two other texts
    with pytest.raises(BankError, match=r"2 char-mask line\(s\) have other texts than split 'train'") as error:
        build_bank(tmp_path / "masks", tmp_path / "dataset", tmp_path / "bank", height=BANK_HEIGHT, seed=0)
    assert "line-001: 'bad cab' vs 'bad cba'" in str(error.value) and "line-003: 'a  cd' vs 'a cd'" in str(error.value)
    assert not (tmp_path / "bank").exists()


def test_build_bank_compares_texts_after_the_char_masks_text_rules(tmp_path):
    write_dataset(tmp_path / "dataset", ["ab ,", "ba"])
    write_glyph_masks(tmp_path / "masks", ["ab,", "ba"], text_rules="bentham")  # Bentham's rules drop the space
    info = build_bank(tmp_path / "masks", tmp_path / "dataset", tmp_path / "bank", height=BANK_HEIGHT)
    assert info["num_lines"] == 2


def test_build_bank_refuses_to_overwrite(bank_dir, tmp_path):
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_bank(tmp_path / "masks", tmp_path / "dataset", bank_dir)


def test_corpus_is_filtered_to_bank_characters(tmp_path, generator):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abc  dab\nabz\n" + "a" * 111 + "\n\ncab\n", encoding="utf-8")
    loaded = load_corpus(corpus, generator.characters)
    assert loaded.texts == ["abc dab", "cab"]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_corpus(tmp_path / "missing.txt", generator.characters)


def test_recombined_texts_walk_training_word_bigrams(generator):
    recombined = RecombinedTexts(generator.bank.texts, max_length=8)
    rng = np.random.default_rng(0)
    texts = generator.bank.texts
    words = {word for text in texts for word in text.split()}
    followers = {(a, b) for text in texts for a, b in zip(text.split(), text.split()[1:])}
    longest = max(len(text) for text in texts)
    samples = [recombined.sample(rng) for _ in range(50)]
    for text in samples:
        assert 0 < len(text) <= min(8, longest) and generator.can_render(text)
        assert set(text.split()) <= words
    # Consecutive words follow each other in some training line, or the first has no follower (a jump).
    has_follower = {a for a, _ in followers}
    pairs = [(a, b) for text in samples for a, b in zip(text.split(), text.split()[1:])]
    assert pairs and all(pair in followers or pair[0] not in has_follower for pair in pairs)
    assert any(pair in followers for pair in pairs)
    assert len(set(samples)) > 3


def make_batch(size: int = 6) -> dict:
    return {
        "image": [Image.fromarray(glyph_line("abc")) for _ in range(size)],
        "text": ["abc"] * size,
        "sample_id": [f"real-{index}" for index in range(size)],
        "writer": ["w1"] * size,
    }


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("dab cab\nabc abc\ncc dd\nbad\n", encoding="utf-8")
    return path


def test_replacement_p1_replaces_all_and_p0_none(bank_dir, corpus_file):
    replaced = StackMixReplacement(bank_dir, corpus_file, p=1.0, seed=0, corpus_mix=1.0)(make_batch())
    corpus = set(corpus_file.read_text().split("\n")) - {""}
    assert set(replaced["text"]) <= corpus
    assert all(sample_id.startswith("stackmix-") for sample_id in replaced["sample_id"])
    assert len(set(replaced["sample_id"])) == len(replaced["sample_id"])
    for image, text in zip(replaced["image"], replaced["text"]):
        assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2  # grayscale kept
        assert image.shape[1] >= GLYPH_WIDTH * len(text) - len(text)
    assert replaced["writer"] == ["w1"] * 6

    batch = make_batch()
    kept = StackMixReplacement(bank_dir, corpus_file, p=0.0, seed=0)(batch)
    assert kept["text"] == batch["text"] and kept["sample_id"] == batch["sample_id"]
    assert all(image is original for image, original in zip(kept["image"], batch["image"]))


def test_replacement_matches_colour_layout(bank_dir, corpus_file):
    batch = make_batch(2)
    batch["image"] = [Image.fromarray(glyph_line("abc")).convert("RGB")] * 2
    replaced = StackMixReplacement(bank_dir, corpus_file, p=1.0)(batch)
    assert all(image.ndim == 3 and image.shape[2] == 3 for image in replaced["image"])


def test_replacement_is_reproducible_and_fresh_per_epoch_and_worker(bank_dir, corpus_file, monkeypatch):
    def run(epoch, seed=0, rank=0):
        transform = StackMixReplacement(bank_dir, corpus_file, p=0.5, seed=seed, rank=rank)
        transform.set_epoch(epoch)
        results = [transform(make_batch(8)) for _ in range(3)]
        return [(r["text"], [np.asarray(image).tobytes() for image in r["image"]]) for r in results]

    assert run(epoch=1) == run(epoch=1)
    assert run(epoch=1) != run(epoch=2)
    assert run(epoch=1) != run(epoch=1, rank=1)
    assert run(epoch=1) != run(epoch=1, seed=1)

    class FakeWorker:
        id = 3

    main_process = run(epoch=1)
    monkeypatch.setattr("torch.utils.data.get_worker_info", lambda: FakeWorker())
    assert run(epoch=1) != main_process


def test_replacement_pickles_without_its_bank(bank_dir, corpus_file):
    transform = StackMixReplacement(bank_dir, corpus_file, p=1.0)
    fresh_size = len(pickle.dumps(transform))
    transform(make_batch(2))
    assert transform._generator is not None
    restored = pickle.loads(pickle.dumps(transform))
    assert len(pickle.dumps(transform)) == fresh_size and restored._generator is None
    assert len(restored(make_batch(2))["text"]) == 2


def test_replacement_checks_its_bank_and_corpus_when_it_is_made(bank_dir, tmp_path):
    """Training makes the transform before it starts: a bad corpus must stop it there, not in a worker."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("xyz\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"no line of corpus {corpus} fits"):
        StackMixReplacement(bank_dir, corpus)
    with pytest.raises(InputError, match="does not exist"):
        StackMixReplacement(tmp_path / "no_bank")


def test_replacement_without_corpus_uses_recombined_bank_texts(bank_dir):
    replaced = StackMixReplacement(bank_dir, p=1.0, seed=0)(make_batch(4))
    words = {word for text in TokenBank.load(bank_dir).texts for word in text.split()}
    assert all(set(text.split()) <= words for text in replaced["text"])


def test_end_to_end_tiny_model_masks_bank_generate(tmp_path, capsys):
    """Untrained tiny model + tiny dataset -> char masks (forced) -> bank -> generated line and dataset."""
    import torch

    import modeling_stackmix_htr as htr
    from augmentations.stackmix.__main__ import main as stackmix_main

    texts = ["ab ba", "abc", "ca b", "bc a"]
    write_dataset(tmp_path / "dataset", texts)
    processor = htr.StackMixHTRProcessor.from_texts(texts)
    config = htr.StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size)
    torch.manual_seed(0)
    htr.StackMixHTRForCTC(config).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")

    stackmix_main(
        [
            "char-masks",
            "--model",
            str(tmp_path / "model"),
            "--dataset",
            str(tmp_path / "dataset"),
            "--output_dir",
            str(tmp_path / "masks"),
            "--batch_size",
            "2",
            "--device",
            "cpu",
        ]
    )
    masks = load_dataset_folder_or_hub(tmp_path / "masks", split="train")
    assert masks.num_rows == len(texts)  # forced alignment gives every line boxes
    for row in masks:
        assert "".join(box["label"] for box in row["boxes"]) == row["text"]
        width = GLYPH_WIDTH * len(row["text"])
        assert all(0 <= box["x1"] < box["x2"] <= width for box in row["boxes"])
        assert [box["x1"] for box in row["boxes"]] == sorted(box["x1"] for box in row["boxes"])

    stackmix_main(
        [
            "build-bank",
            "--char_masks",
            str(tmp_path / "masks"),
            "--dataset",
            str(tmp_path / "dataset"),
            "--output_dir",
            str(tmp_path / "bank"),
            "--image_height",
            "32",
        ]
    )
    stackmix_main(
        ["generate", "--bank", str(tmp_path / "bank"), "--text", "cab ab", "--output", str(tmp_path / "line.png")]
    )
    line = np.asarray(Image.open(tmp_path / "line.png"))
    assert line.shape[0] == 32 and line.shape[1] > 0

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abc ba\ncab\nxyz\n", encoding="utf-8")
    stackmix_main(
        [
            "generate",
            "--bank",
            str(tmp_path / "bank"),
            "--corpus",
            str(corpus),
            "--corpus_mix",
            "1",
            "--num",
            "3",
            "--output_dir",
            str(tmp_path / "generated"),
        ]
    )
    generated = load_dataset_folder_or_hub(tmp_path / "generated" / "hf", split="train")
    assert generated.num_rows == 3 and set(generated["text"]) <= {"abc ba", "cab"}
    assert (tmp_path / "generated" / "marking.csv").read_text().startswith("sample_id,path,stage,text")

    stackmix_main(
        [
            "preview",
            "--bank",
            str(tmp_path / "bank"),
            "--corpus",
            str(corpus),
            "--output",
            str(tmp_path / "grid.png"),
            "--num",
            "2",
        ]
    )
    assert Image.open(tmp_path / "grid.png").size[0] > 0

    # The fidelity meter: the model reads generated and real lines of the dataset's texts.
    capsys.readouterr()
    stackmix_main(
        [
            "score",
            "--bank",
            str(tmp_path / "bank"),
            "--model",
            str(tmp_path / "model"),
            "--dataset",
            str(tmp_path / "dataset"),
            "--split",
            "train",
            "--worst_output",
            str(tmp_path / "worst.png"),
        ]
    )
    printed = capsys.readouterr().out
    fields = dict(item.split("=") for item in printed.split("\n")[0].split())
    assert int(fields["lines"]) == len(texts) and int(fields["unrenderable"]) == 0
    real, generated = float(fields["real_cer"]), float(fields["generated_cer"])
    assert real > 0 and float(fields["fidelity_ratio"]) == pytest.approx(generated / real, abs=1e-3)
    grid = Image.open(tmp_path / "worst.png")
    assert grid.size[0] == 1400 and grid.size[1] > len(texts) * 32


def test_generate_creates_the_folder_of_its_output(bank_dir, tmp_path):
    from augmentations.stackmix.__main__ import main as stackmix_main

    output = tmp_path / "new" / "deeper" / "line.png"
    stackmix_main(["generate", "--bank", str(bank_dir), "--text", "dab", "--output", str(output)])
    assert np.asarray(Image.open(output)).shape[0] == BANK_HEIGHT


@pytest.mark.parametrize(
    "command", ["char-masks", "build-bank", "generate", "preview", "augmentations.char_masks", "augmentations.preview"]
)
def test_commands_report_bad_input_in_one_line_with_status_2(command, bank_dir, tmp_path):
    write_dataset(tmp_path / "dataset", ["abc abd", "bad cba"])
    write_glyph_masks(tmp_path / "masks", ["abc abd", "bad cab"])
    (tmp_path / "existing").mkdir()
    (tmp_path / "corpus.txt").write_text("xyz\n", encoding="utf-8")
    stackmix = [sys.executable, "-m", "augmentations.stackmix"]
    masks_options = [
        "--model",
        tmp_path / "no_model",
        "--dataset",
        tmp_path / "dataset",
        "--output_dir",
        tmp_path / "masks_out",
    ]
    commands = {
        "build-bank": (
            stackmix
            + [
                "build-bank",
                "--char_masks",
                tmp_path / "masks",
                "--dataset",
                tmp_path / "dataset",
                "--output_dir",
                tmp_path / "bank",
            ],
            "1 char-mask line(s) have other texts than split 'train'",
        ),
        "generate": (
            stackmix + ["generate", "--bank", bank_dir, "--num", "2", "--output_dir", tmp_path / "existing"],
            f"{tmp_path / 'existing'} already exists; pass --overwrite to replace it",
        ),
        "preview": (
            stackmix + ["preview", "--bank", bank_dir, "--corpus", tmp_path / "corpus.txt", "--output", tmp_path / "g"],
            f"no line of corpus {tmp_path / 'corpus.txt'} fits",
        ),
        "char-masks": (
            stackmix + ["char-masks", *masks_options],
            f"--model {tmp_path / 'no_model'}: no such folder",
        ),
        "augmentations.char_masks": (  # the former spelling of the char-masks command
            [sys.executable, "-m", "augmentations.char_masks", *masks_options],
            f"--model {tmp_path / 'no_model'}: no such folder",
        ),
        "augmentations.preview": (
            [
                sys.executable,
                "-m",
                "augmentations.preview",
                "--dataset",
                tmp_path / "no_data",
                "--output",
                tmp_path / "g",
            ],
            f"dataset {tmp_path / 'no_data'}: no such folder",
        ),
    }
    argv, message = commands[command]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(list(map(str, argv)), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    last_line = result.stderr.strip().splitlines()[-1]  # after the command's own log lines, if any
    assert last_line.startswith("error: ") and message in last_line
    assert "Traceback" not in result.stderr


def test_char_masks_of_a_model_that_reads_only_blanks_say_what_to_do(tmp_path, capsys):
    import torch

    import modeling_stackmix_htr as htr
    from augmentations.stackmix.__main__ import main as stackmix_main
    from stackmix_htr.common.errors import run_command

    texts = ["ab ba", "abc"]
    write_dataset(tmp_path / "dataset", texts)
    processor = htr.StackMixHTRProcessor.from_texts(texts)
    model = htr.StackMixHTRForCTC(htr.StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size))
    with torch.no_grad():  # the CTC blank plateau: the blank wins every frame
        model.head[-1].bias.fill_(-20.0)
        model.head[-1].bias[processor.blank_id] = 20.0
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    argv = ["char-masks", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "dataset")]
    assert run_command(stackmix_main, [*argv, "--output_dir", str(tmp_path / "masks"), "--device", "cpu"]) == 2
    assert "still on the CTC blank plateau?" in capsys.readouterr().err and not (tmp_path / "masks").exists()


def test_write_line_leaves_out_what_the_bank_cannot_write_and_follows_its_seed(generator):
    written = write_line(generator, "  abc\tzab  yz ", seed=5)
    assert written.missing == ["z", "y"] and written.text == "abc ab"
    assert "".join(written.tokens) == written.text and written.seed == 5
    assert written.image.shape[0] == BANK_HEIGHT
    assert np.array_equal(write_line(generator, "abc zab yz", seed=5).image, written.image)
    assert write_line(generator, "zy", seed=0).image is None
