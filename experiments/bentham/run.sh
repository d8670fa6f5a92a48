#!/usr/bin/env bash
# The paper's four experiments on Bentham (tranScriptorium BenthamR0), with its settings in experiments/ablation.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders bentham --raw BenthamDatasetR0-GT --output_dir data/bentham).
# Usage: experiments/bentham/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python}" -m experiments.ablation bentham "$@"
