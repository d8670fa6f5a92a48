#!/usr/bin/env bash
# The paper's four experiments on Bentham (tranScriptorium BenthamR0), with its settings in runners/experiments.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders bentham --raw BenthamDatasetR0-GT --output_dir data/bentham).
# Usage: runners/bentham/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
exec "${PYTHON:-python}" "$(dirname "$0")/../experiments.py" bentham "$@"
