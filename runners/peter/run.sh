#!/usr/bin/env bash
# The paper's four experiments on Digital Peter, with its settings in runners/experiments.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders peter --raw digital_peter --output_dir data/peter).
# Usage: runners/peter/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
exec "${PYTHON:-python}" "$(dirname "$0")/../experiments.py" peter "$@"
