"""The ablation on Saint Gall whose results bench/RESULTS.md reports: experiments/ablation.py on Saint
Gall with this budget (the small preset, 50 epochs, the paper's recipe, on the shared CPU machine) and
its own work folder, record and report section. Every flag of experiments/ablation.py applies.

    python -m experiments.saintgall_ablation [--experiments ... base_2x] [--seeds 2] [--max_train_samples 100 all]
"""

import sys

from experiments.ablation import main

BUDGET = {
    "preset": "small",
    "epochs": 50,
    "num_workers": 2,
    "work_dir": "outputs/ablation",
    "record": "bench/ablation_record.json",
    "results": "bench/RESULTS.md",
    "recipe": "paper",  # the record's runs predate the prior start and clipping
}

if __name__ == "__main__":
    main(["saintgall", *sys.argv[1:]], defaults=BUDGET, program="python -m experiments.saintgall_ablation")
