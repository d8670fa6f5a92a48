"""Start-up data checks (unknown characters stop the run, unreadably long lines are reported)
and a bfloat16 run."""

import json

from support.training import TINY_RUN, make_tiny_dataset, run_training, simple_splits, tiny_run


def test_validation_characters_outside_a_given_vocabulary_stop_the_run_with_a_list(tmp_path):
    splits = simple_splits()
    splits["validation"][1] = ("va-odd", "ab§c", 100)
    splits["validation"][2] = ("va-odder", "Zab", 100)
    dataset = make_tiny_dataset(tmp_path / "data", splits)
    vocab = tmp_path / "charset.txt"
    vocab.write_text("abc\n")
    result = run_training(
        "--dataset", dataset, "--output_dir", tmp_path / "run", *TINY_RUN, "--num_train_epochs", 1, "--vocab", vocab
    )
    assert result.returncode != 0
    assert "'§' (U+00A7) in 1 line(s): va-odd" in result.stdout
    assert "'Z' (U+005A) in 1 line(s): va-odder" in result.stdout
    assert not (tmp_path / "run" / "last").exists()


def test_the_default_vocabulary_covers_characters_seen_only_in_validation(tmp_path):
    splits = simple_splits()
    splits["validation"][1] = ("va-odd", "abZc", 100)
    splits["test"][2] = ("te-odd", "Qab", 100)
    dataset = make_tiny_dataset(tmp_path / "data", splits)
    output_dir = tmp_path / "run"
    result = run_training("--dataset", dataset, "--output_dir", output_dir, *TINY_RUN, "--num_train_epochs", 1)
    assert result.returncode == 0, result.stdout[-3000:]
    vocab = json.loads((output_dir / "last" / "vocab.json").read_text())
    assert set(vocab) >= {"a", "b", "c", "Z"}
    # Such characters are classes that never train: said at start-up, for validation and test.
    never_learned = "1 character(s) occur in no training line, so the model never learns them:"
    assert f"split 'validation': {never_learned}\n  'Z' (U+005A) in 1 line(s): va-odd" in result.stdout
    assert f"split 'test': {never_learned}\n  'Q' (U+0051) in 1 line(s): te-odd" in result.stdout


def test_train_characters_outside_a_given_vocabulary_stop_the_run(tmp_path):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    vocab = tmp_path / "charset.txt"
    vocab.write_text("ab\n")
    result = run_training(
        "--dataset", dataset, "--output_dir", tmp_path / "run", *TINY_RUN, "--num_train_epochs", 1, "--vocab", vocab
    )
    assert result.returncode != 0
    assert "'c' (U+0063)" in result.stdout and "split 'train'" in result.stdout


def test_lines_too_long_for_the_output_are_reported_and_training_goes_on(tmp_path):
    splits = simple_splits()
    splits["train"].append(("tr-narrow", "abcabcabcabc", 16))  # 16 px -> 2 frames for 12 characters
    dataset = make_tiny_dataset(tmp_path / "data", splits)
    output_dir = tmp_path / "run"
    result = run_training(
        *tiny_run(dataset, output_dir, epochs=1, batch_size=4),
        "--mixed_precision",
        "bf16",
        "--channels_last",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 line(s) need more CTC frames" in result.stdout and "train:tr-narrow (12>2)" in result.stdout
    assert json.loads((output_dir / "unfit_lines.json").read_text()) == [
        {"split": "train", "sample_id": "tr-narrow", "required_frames": 12, "frames": 2}
    ]
    assert "mixed precision bf16" in result.stdout
    row = json.loads((output_dir / "metrics.jsonl").read_text())
    assert 0 < row["train_loss"] < 1e3 and row["nonfinite_losses"] == 0
