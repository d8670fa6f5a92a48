"""experiments/pretrained/general.sh's banks and stackmix steps on tiny stand-ins for its sources: a bank
per real source (the held-out lot left out), lines written with each, and a budgeted run that trains on
the real, synthetic and generated lines together from the annealed model."""

import json
import subprocess
import sys

from support.checkpoints import save_checkpoint
from support.training import REPO_ROOT, make_tiny_dataset, simple_splits, training_env

BANKED = ["lectaurep-random-set-1", "lectaurep-riant-4", "lectaurep-alto-sample", "saintgall"]


def test_banks_of_every_source_feed_the_stackmix_stage(tmp_path):
    out = tmp_path / "out"
    for name in [*BANKED, "synthetic", "lectaurep-dufour-1"]:
        make_tiny_dataset(out / "data" / name, simple_splits())
    save_checkpoint(out / "anneal" / "best_cer", texts=["abc", "cab bca"])
    corpus = tmp_path / "latin.txt"
    corpus.write_text("abc cab\nbca\nacb bac\n", encoding="utf-8")
    env = {
        **training_env(), "OUT": str(out), "PYTHON": sys.executable, "LATIN_CORPUS": str(corpus),
        "STACKMIX_LINES": "3", "STACKMIX_MINUTES": "1", "WORKERS": "0",
    }  # fmt: skip
    run = subprocess.run(
        ["bash", "experiments/pretrained/general.sh", "banks", "stackmix"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    for name in BANKED:
        lines = (out / "banks" / name / "lines" / "marking.csv").read_text().splitlines()[1:]
        assert len(lines) == (6 if name == "lectaurep-random-set-1" else 3)  # twice as many for the largest lot
        assert f"{out / 'banks' / name / 'lines' / 'hf'} ({len(lines)})" in run.stderr
    assert not (out / "banks" / "lectaurep-dufour-1").exists()  # the held-out hand gives no bank
    assert f"initialised from {out / 'anneal' / 'best_cer'}" in run.stderr
    assert json.loads((out / "stackmix" / "test_results.json").read_text())["num_lines"] == 4

    again = subprocess.run(
        ["bash", "experiments/pretrained/general.sh", "banks", "stackmix"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "initialised from" not in again.stderr  # finished steps are skipped
