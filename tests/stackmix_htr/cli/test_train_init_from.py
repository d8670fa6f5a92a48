"""train_accelerate.py --init_from: fine-tuning a saved folder loaded with its own code, a frozen
backbone and a taller line height, and the start-up errors a user sees."""

import json

import torch
from safetensors.torch import load_file
from support.checkpoints import save_checkpoint
from support.training import TINY_RUN, make_tiny_dataset, run_training, tiny_run

NEW_HAND = {
    "train": [(f"tr-{i}", ["abx", "xb a", "cax d"][i % 3], 90 + 4 * i) for i in range(6)],
    "validation": [("va-0", "ax", 100), ("va-1", "bx", 100)],
    "test": [("te-0", "xa", 100)],
}


def test_fine_tunes_a_remote_code_folder_with_a_frozen_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    _, processor = save_checkpoint(tmp_path / "trained")
    assert json.loads((tmp_path / "trained" / "config.json").read_text())["auto_map"]["AutoModelForCTC"]
    dataset = make_tiny_dataset(tmp_path / "data", NEW_HAND)
    output_dir = tmp_path / "run"
    result = run_training(
        *tiny_run(dataset, output_dir, epochs=2, batch_size=3),
        "--init_from",
        tmp_path / "trained",
        "--trust_remote_code",
        "--freeze_backbone_epochs",
        2,
        "--image_height",
        64,  # twice the checkpoint's: the weights fit, the run trains on taller lines
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "line height 32 -> 64 px" in result.stdout
    assert json.loads((output_dir / "last" / "config.json").read_text())["image_height"] == 64
    # The checkpoint's own code built the source model, not this package's class.
    assert "(transformers_modules." in result.stdout and "1 new ('x' (U+0078))" in result.stdout

    old_vocab = processor.tokenizer.get_vocab()
    vocab = json.loads((output_dir / "last" / "vocab.json").read_text())
    assert {token: vocab[token] for token in old_vocab} == old_vocab and vocab["x"] == len(old_vocab)
    before = load_file(tmp_path / "trained" / "model.safetensors")
    after = load_file(output_dir / "last" / "model.safetensors")
    backbone = [key for key in before if key.startswith("backbone.")]
    assert any(key.endswith("running_mean") for key in backbone)
    assert all(torch.equal(before[key], after[key]) for key in backbone)  # weights and batch-norm statistics
    assert not all(torch.equal(before[key], after[key]) for key in before if key.startswith("lstm."))
    assert "starting from" in (output_dir / "last" / "README.md").read_text()


def test_keep_stops_the_run_with_the_unknown_characters(tmp_path):
    save_checkpoint(tmp_path / "trained")
    dataset = make_tiny_dataset(tmp_path / "data", NEW_HAND)
    result = run_training(
        "--dataset",
        dataset,
        "--output_dir",
        tmp_path / "run",
        *TINY_RUN,
        "--init_from",
        tmp_path / "trained",
        "--vocab_resize",
        "keep",
    )
    assert result.returncode == 2
    assert "the checkpoint's vocabulary lacks 1 character(s) of the data: 'x' (U+0078)" in result.stdout
    assert "Traceback" not in result.stdout and not (tmp_path / "run" / "last").exists()


def test_a_missing_folder_is_named_as_missing_not_as_a_network_problem(tmp_path):
    dataset = make_tiny_dataset(tmp_path / "data", NEW_HAND)
    # The run's working folder is the repository: "tests/..." has a Hub id's form, but "tests" is a folder here.
    for missing in (tmp_path / "runs" / "best_cer", "tests/no_such_checkpoint", "no_such_owner/model"):
        result = run_training(*tiny_run(dataset, tmp_path / "run", epochs=1, batch_size=3), "--init_from", missing)
        assert result.returncode == 2, result.stdout[-2000:]
        assert "Traceback" not in result.stdout
        if str(missing).startswith("no_such_owner"):  # only a name that can be nothing but a Hub id goes there
            assert f"--init_from {missing} (no such local folder; tried it as a Hub model id)" in result.stdout
        else:
            assert f"error: --init_from {missing}: no such folder\n" in result.stdout
