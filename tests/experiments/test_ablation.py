"""The ablation runner (experiments/ablation.py) end to end on real Saint Gall with the tiny preset and a
handful of lines; experiments/saintgall_ablation.py, the same runner with the results budget, resumes the record."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from support import REPO_ROOT

from experiments.reporting import format_duration

ARMS = {"base": "base (augs)", "blots_stackmix": "+blots+StackMix"}
SEEDS = (6955, 6956)


def test_ablation_reports_mean_and_std_over_seeds(saint_gall_dir, latin_corpus, tmp_path):
    work_dir, record, results = tmp_path / "work", tmp_path / "record.json", tmp_path / "report" / "RESULTS.md"
    results.parent.mkdir()
    results.write_text("# Benchmark results\n\nother figures\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
           "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    options = [
        "--raw", saint_gall_dir, "--corpus", latin_corpus,
        "--work_dir", work_dir, "--record", record, "--results", results, "--preset", "tiny", "--epochs", "1",
        "--batch_size", "4", "--max_train_samples", "8", "--seeds", "2", "--experiments", *ARMS, "--max_eval_samples", "4",
        "--num_workers", "0", "--device", "cpu", "--jobs", "2", "--stackmix_args", "--stackmix_mode add",
        "--recipe", "paper",  # as experiments/saintgall_ablation.py, which resumes the record below
    ]  # fmt: skip
    command = list(map(str, [sys.executable, "-m", "experiments.ablation", "saintgall", *options]))
    run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    saved = json.loads(record.read_text())
    report = results.read_text()
    assert report.startswith("# Benchmark results\n\nother figures")  # the other sections stay
    cers = {name: [saved["runs"][f"{name} n8 s{seed}"]["test"]["cer"] for seed in SEEDS] for name in ARMS}
    for name, label in ARMS.items():
        row = next(line for line in report.splitlines() if line.startswith(f"| {label} |"))
        cells = row.split(" | ")
        assert cells[1] == "6955, 6956"
        values = 100 * np.array(cers[name])
        assert cells[2] == f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"
        if name != "base":
            change = 100 * (np.mean(cers[name]) / np.mean(cers["base"]) - 1)
            assert cells[5].endswith(f"({change:+.1f} %)")
        # Training time: each run's own clock (which sums the sessions of a resumed run), not the step's wall time.
        clocks = []
        for seed in SEEDS:
            metrics = (work_dir / "n8" / f"s{seed}" / name / "metrics.jsonl").read_text().splitlines()
            clocks.append(json.loads(metrics[-1])["elapsed_seconds"])
            assert saved["runs"][f"{name} n8 s{seed}"]["training_seconds"] == clocks[-1]
        assert cells[7] == format_duration(float(np.mean(clocks))) + " |"
    assert "#### First 8 train lines" in report and "(ablation_curves.png)" in report
    assert "arithmetic: accelerate default (each run's command below shows its own)" in report  # no --mixed_precision
    assert results.with_name("ablation_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Each seed has its own base model, char masks and bank; StackMix runs take the extra flags.
    for seed in SEEDS:
        assert f"n8 s{seed}: `forced` alignment" in report
        assert re.search(
            rf"--output_dir \S*n8/s{seed}/blots_stackmix .*--stackmix_bank \S*n8/s{seed}/bank .*--stackmix_mode add",
            report,
        )
        assert "--max_lines 8" in saved["steps"][f"char masks n8 s{seed}"]["command"]
    for name in ARMS:
        assert "epoch" in (work_dir / "logs" / f"train_{name}_n8_s6955.log").read_text()

    # The same command again finds every step done: it only rewrites the report from the record.
    command = list(map(str, [sys.executable, "-m", "experiments.saintgall_ablation", *options]))
    again = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished earlier" in again.stdout and "$ " not in again.stdout
    assert results.read_text().count("<!-- section ablation: start -->") == 1


def test_a_record_written_before_the_newer_budget_keys_is_resumed(tmp_path):
    from experiments.ablation import Ablation, parse_args

    budget = {"preset": "small", "image_height": None, "epochs": 50, "batch_size": 16, "mixed_precision": "bf16",
              "jobs": 2, "max_eval_samples": None, "stackmix_args": "", "char_masks_args": ""}  # fmt: skip
    steps = {"train base all s6955": {"seconds": 10.0, "command": "python train_accelerate.py ...", "done": True}}
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"budget": budget, "steps": steps, "runs": {}, "banks": {}}))
    options = ["saintgall", "--record", str(record), "--work_dir", str(tmp_path / "work"), "--device", "cpu",
               "--mixed_precision", "bf16", "--jobs", "2", "--experiments", "base", "blots_stackmix"]  # fmt: skip
    bench_budget = {"preset": "small", "epochs": 50, "recipe": "paper"}  # as experiments/saintgall_ablation.py
    ablation = Ablation(parse_args(options, bench_budget, "python -m experiments.saintgall_ablation"))
    assert ablation.step_done("train base all s6955") and not ablation.step_done("train blots_stackmix all s6955")
    assert ablation.run_dir(ablation.runs[1]) == tmp_path / "work" / "all" / "s6955" / "blots_stackmix"
    assert ablation.dataset == tmp_path / "work" / "saintgall"
    with pytest.raises(SystemExit, match="another budget"):
        Ablation(
            parse_args(
                [*options, "--train_args=--group_by_width"], bench_budget, "python -m experiments.saintgall_ablation"
            )
        )


def test_each_curve_panel_is_titled_with_the_dataset_and_its_train_size(tmp_path, monkeypatch):
    import matplotlib.axes

    from experiments.ablation import plot_curves

    titles = []
    set_title = matplotlib.axes.Axes.set_title

    def recording_set_title(axes, text, **kwargs):
        titles.append(text)
        return set_title(axes, text, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", recording_set_title)
    runs = {
        "base n100 s6955": {"curve": [[0, 1.0], [4, 0.6]]},
        "blots_stackmix n100 s6955": {"curve": [[0, 0.9], [4, 0.5]]},
        "base all s6955": {"curve": [[0, 1.0], [1, 0.4]]},
    }
    plot_curves(runs, ["n100", "all"], "Saint Gall", tmp_path / "curves.png")
    assert titles == [
        "Saint Gall, first 100 train lines (one line per seed)",
        "Saint Gall, all train lines (one line per seed)",
    ]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_base_2x_trains_twice_the_epochs_and_the_report_compares_stackmix_with_it(tmp_path):
    from experiments.ablation import Ablation, equal_compute_lines, parse_args

    options = ["saintgall", "--record", str(tmp_path / "record.json"), "--work_dir", str(tmp_path / "work"),
               "--device", "cpu", "--epochs", "50", "--seeds", "2",
               "--experiments", "base", "base_2x", "blots_stackmix"]  # fmt: skip
    ablation = Ablation(parse_args(options, {}, "python -m experiments.ablation"))
    commands = {run.key: ablation.training_step(run)[1] for run in ablation.runs}
    epochs = {key: command[command.index("--num_train_epochs") + 1] for key, command in commands.items()}
    assert epochs == {"base all s6955": 50, "base_2x all s6955": 100, "blots_stackmix all s6955": 50,
                      "base all s6956": 50, "base_2x all s6956": 100, "blots_stackmix all s6956": 50}  # fmt: skip
    assert "--stackmix_bank" not in commands["base_2x all s6955"] and "--use_blots" not in commands["base_2x all s6955"]

    runs = ablation.record.data["runs"]
    runs["base_2x all s6955"] = {"test": {"cer": 0.060}}
    runs["blots_stackmix all s6955"] = {"test": {"cer": 0.054}}
    runs["blots_stackmix all s6956"] = {"test": {"cer": 0.050}}  # its base_2x run is unfinished: not compared
    assert equal_compute_lines(ablation, "all") == [
        "At equal compute (1 seed(s) with both): +blots+StackMix 5.40 % against 6.00 % for "
        "base, twice the epochs (compute of StackMix): -10.0 % relative (below; per seed -10.0 %).",
        "",
    ]
    runs["base_2x all s6956"] = {"test": {"cer": 0.048}}
    (line, _) = equal_compute_lines(ablation, "all")
    assert line.startswith("At equal compute (2 seed(s) with both): +blots+StackMix 5.20 % against 5.40 %")
    assert line.endswith("-3.7 % relative (below; per seed -10.0 %, +4.2 %).")
    assert equal_compute_lines(ablation, "n100") == []  # no run of that size has finished


def test_a_table_mixing_arithmetic_names_each_arms_in_its_training_time(tmp_path):
    from experiments.ablation import Ablation, parse_args, results_table

    options = ["saintgall", "--record", str(tmp_path / "record.json"), "--work_dir", str(tmp_path / "work"),
               "--device", "cpu", "--experiments", "base", "base_2x"]  # fmt: skip
    ablation = Ablation(parse_args(options, {}, "python -m experiments.ablation"))
    runs, steps = ablation.record.data["runs"], ablation.record.data["steps"]
    test = {"cer": 0.05, "wer": 0.3, "cer_asr": 0.03}
    for key, precision, seconds in (("base all s6955", "bf16", 3600), ("base_2x all s6955", "no", 7200)):
        runs[key] = {"test": test, "curve": [[0, 0.5]], "training_seconds": seconds}
        steps[f"train {key}"] = {"command": f"python train_accelerate.py --mixed_precision {precision}", "done": True}
    base, base_2x = results_table(ablation, "all")
    assert base.endswith("| 1h00m00s (bf16) |") and base_2x.endswith("| 2h00m00s (float32) |")

    steps["train base_2x all s6955"]["command"] = "python train_accelerate.py --mixed_precision bf16"
    assert results_table(ablation, "all")[1].endswith("| 2h00m00s |")  # one arithmetic: nothing to name
