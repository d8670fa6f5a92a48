#!/usr/bin/env bash
# The paper's four experiments on Digital Peter, with its settings in experiments/ablation.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders peter --raw digital_peter --output_dir data/peter).
# Usage: experiments/peter/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python}" -m experiments.ablation peter "$@"
