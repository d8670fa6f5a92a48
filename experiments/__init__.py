"""Experiments behind bench/RESULTS.md: runners that train, record and report, resumable across sessions.

Run them from the repository root as modules (`python -m experiments.ablation ...`) or with their shell
recipes (`experiments/<dataset>/run.sh`, `experiments/pretrain/run.sh`, `experiments/pretrained/*.sh`).
Not installed with the package.
"""
