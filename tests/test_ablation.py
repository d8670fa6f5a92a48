"""bench/ablation.py end to end on real Saint Gall with the tiny preset and a handful of lines."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ROW_LABELS = {"base": "base (augs)", "blots": "+blots", "stackmix": "+StackMix", "blots_stackmix": "+blots+StackMix"}


def test_ablation_writes_results_for_the_four_experiments(saint_gall_dir, latin_corpus, tmp_path):
    work_dir, results = tmp_path / "work", tmp_path / "report" / "RESULTS.md"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    command = [
        sys.executable, "bench/ablation.py", "--raw", saint_gall_dir, "--corpus", latin_corpus,
        "--work_dir", work_dir, "--results", results, "--preset", "tiny", "--epochs", "1", "--batch_size", "4",
        "--max_train_samples", "8", "--max_eval_samples", "4", "--num_workers", "0", "--device", "cpu", "--jobs", "2",
    ]  # fmt: skip
    run = subprocess.run(list(map(str, command)), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    report = results.read_text()
    evaluations = {name: json.loads((work_dir / f"eval_{name}" / "results.json").read_text()) for name in ROW_LABELS}
    base_cer = evaluations["base"]["checkpoints"]["best_cer"]["cer"]
    for name, label in ROW_LABELS.items():
        row = re.search(rf"^\| {re.escape(label)} \| ([0-9.]+) \| ([0-9.]+) \|", report, flags=re.MULTILINE)
        assert row, f"no row for {label}:\n{report}"
        evaluation = evaluations[name]
        assert evaluation["n_samples"] == 4
        cer = evaluation["checkpoints"]["best_cer"]["cer"]
        assert float(row[1]) == round(100 * cer, 2)
        assert float(row[2]) == round(100 * evaluation["checkpoints"]["best_cer"]["wer"], 2)
        # The "CER vs base" cell: the experiment's test CER minus base's, in points.
        cells = next(line for line in report.splitlines() if line.startswith(f"| {label} |")).split(" | ")
        assert cells[6] == ("–" if name == "base" else f"{100 * (cer - base_cer):+.2f}")
    assert "| 3.65 |" in report  # the paper's figure beside ours
    unfit_file = work_dir / "base" / "unfit_lines.json"
    unfit = len(json.loads(unfit_file.read_text())) if unfit_file.is_file() else 0
    assert f"more CTC frames than the model outputs for their width: {unfit} " in report

    plot = results.with_name("ablation_curves.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(ablation_curves.png)" in report
    # The commands listed reproduce the runs: StackMix runs use the bank built from base's best checkpoint.
    assert "--use_blots --stackmix_bank" in report and "augmentations.char_masks --model" in report
    bank = json.loads((work_dir / "bank" / "stackmix_bank.json").read_text())
    assert f"{bank['num_slices']} slices" in report
    assert not [path.name for path in results.parent.iterdir() if path.name.endswith(".tmp")]
    # --jobs 2 trains base with blots, then the StackMix pair, at once, each logging to its own file.
    assert "2 training runs at a time" in report
    for name in ROW_LABELS:
        assert "epoch" in (work_dir / "logs" / f"train_{name}.log").read_text()
