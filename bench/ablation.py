"""The ablation on Saint Gall whose results bench/RESULTS.md reports: runners/experiments.py on Saint
Gall with this benchmark's budget (the small preset, 50 epochs, on the shared CPU machine) and its own
work folder, record and report section. Every flag of runners/experiments.py applies.

    python bench/ablation.py [--preset small] [--epochs 50] [--experiments ...] [--seeds 2] [--max_train_samples 100 all]
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "runners"))
from experiments import main  # noqa: E402

BUDGET = {
    "preset": "small",
    "epochs": 50,
    "num_workers": 2,
    "work_dir": "outputs/ablation",
    "record": "bench/ablation_record.json",
    "results": "bench/RESULTS.md",
}

if __name__ == "__main__":
    main(["saintgall", *sys.argv[1:]], defaults=BUDGET, program="bench/ablation.py")
