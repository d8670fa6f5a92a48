"""experiments/pretrain/run.sh end to end at the tiny preset: synthetic lines plus another dataset,
pretraining, then fine-tuning on a target with --init_from and the from-scratch baseline, and the
report of experiments/finetuning.py on them."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.training import REPO_ROOT, make_tiny_dataset, simple_splits, training_env

OTHER_HAND = {"train": [(f"o-{i}", ["xyz", "zyx ab"][i % 2], 90 + 4 * i) for i in range(4)]}


def test_pretrain_then_fine_tune(tmp_path):
    target = make_tiny_dataset(tmp_path / "target", simple_splits())
    extra = make_tiny_dataset(tmp_path / "extra", OTHER_HAND)
    out = tmp_path / "out"
    env = {
        **training_env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRESET": "tiny", "TARGET": str(target), "OUT": str(out), "SYNTHETIC_LINES": "40", "EXTRA_DATASETS": str(extra),
        "PRETRAIN_EPOCHS": "1", "FINETUNE_EPOCHS": "1", "BATCH_SIZE": "4", "NUM_WORKERS": "0",
        "EXTRA_ARGS": "--report_to jsonl",
    }  # fmt: skip
    run = subprocess.run(
        ["bash", "experiments/pretrain/run.sh", "data", "pretrain", "finetune", "scratch"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "training lines of" in run.stderr and f"{extra} (4) interleaved" in run.stderr
    pretrain_vocab = json.loads((out / "pretrain" / "best_cer" / "vocab.json").read_text())
    assert {"x", "y", "z"} <= set(pretrain_vocab)
    assert f"initialised from {out / 'pretrain' / 'best_cer'}" in run.stderr
    finetune_vocab = json.loads((out / "finetune" / "last" / "vocab.json").read_text())
    assert {token: finetune_vocab[token] for token in pretrain_vocab} == pretrain_vocab  # --vocab_resize union
    assert json.loads((out / "finetune" / "test_results.json").read_text())["num_lines"] == 4

    # Pretraining again from the first one (PRETRAIN_FROM): its weights, a new schedule.
    again_dir = tmp_path / "again"
    again = {**env, "OUT": str(again_dir), "PRETRAIN_FROM": str(out / "pretrain" / "best_cer")}
    second = subprocess.run(
        ["bash", "experiments/pretrain/run.sh", "data", "pretrain"],
        cwd=REPO_ROOT, env=again, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"initialised from {out / 'pretrain' / 'best_cer'}" in second.stderr

    # The report on the second pretraining's folder (the target runs copied beside it) lists both stages.
    for run_dir in ("scratch", "finetune"):
        shutil.copytree(out / run_dir, again_dir / run_dir)
    results = tmp_path / "RESULTS.md"
    report = subprocess.run(
        [sys.executable, "-m", "experiments.finetuning", "--work_dir", str(again_dir), "--results", str(results),
         "--other_runs", str(out / "scratch")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    section = results.read_text()
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in section.splitlines() if line.startswith("| ")}
    for name, run_dir in (("from scratch", "scratch"), ("fine-tuned from pretraining", "finetune")):
        test = json.loads((out / run_dir / "test_results.json").read_text())
        assert rows[name][8] == f"{100 * test['cer']:.2f}" and rows[name][4] == "1 (1)", rows[name]
        assert rows[name][3] == "6955", rows[name]  # the runner's seed
    assert rows["fine-tuned from pretraining"][2] == f"`{out / 'pretrain' / 'best_cer'}`"
    assert rows["from scratch"][2] == "random (output bias: prior)" and "pretraining" not in rows
    assert (
        rows["pretraining, stage 1"][1] == f"`synthetic`, `{extra.name}`"
        and rows["pretraining, stage 1"][2] == "random (output bias: prior)"
    )
    assert rows["pretraining, stage 2"][2] == f"`{out / 'pretrain' / 'best_cer'}`"
    assert rows[f"`{out / 'scratch'}`"][1:] == rows["from scratch"][1:]  # another run on the target, by its path
    assert (tmp_path / "finetuning_curves.png").stat().st_size > 0
