#!/usr/bin/env bash
# The paper's four experiments on Saint Gall, with its settings in experiments/ablation.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders saintgall --raw saintgalldb-v1.0 --output_dir data/saintgall --skip_invalid).
# Usage: experiments/saintgall/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python}" -m experiments.ablation saintgall "$@"
