"""stackmix-new-collection end to end on a tiny collection: a budgeted fine-tuning from a trained model with
the collection's characters added, a language model of the training transcriptions tuned on validation,
the test scored, the final model named; a rerun skips what is done."""

import json
import subprocess
import sys

from support import REPO_ROOT
from support.checkpoints import save_checkpoint
from support.training import make_tiny_dataset, simple_splits, training_env


def run(*arguments, timeout=600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "stackmix_htr.cli.new_collection", *map(str, arguments)]
    return subprocess.run(command, cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=timeout)


def test_the_recipe_fine_tunes_to_the_budget_and_adds_a_language_model(tmp_path):
    save_checkpoint(tmp_path / "trained", texts=["abx", "xba"])  # lacks c: the union adds it
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    out = tmp_path / "mine"
    arguments = ["--dataset", dataset, "--output_dir", out, "--minutes", 2, "--init_from", tmp_path / "trained"]
    completed = run(*arguments, "--train_args", "--model_preset tiny --num_workers 0 --train_batch_size 4")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    budget = json.loads((out / "finetune" / "budget.json").read_text())
    assert sum(budget["spent"].values()) <= 0.92 * 2 * 60  # the training share of the budget
    assert "c" in json.loads((out / "finetune" / "best_cer" / "vocab.json").read_text())
    assert (out / "model").resolve() == (out / "finetune" / "best_cer").resolve()
    assert (out / "model" / "language_model" / "attrs.json").is_file()
    results = json.loads((out / "eval_lm" / "results.json").read_text())
    assert next(iter(results["checkpoints"].values()))["decoding"]["decoder"] == "beam"
    again = run(*arguments)
    assert again.returncode == 0 and again.stdout.count("done earlier") == 3, again.stdout[-2000:]
