#!/usr/bin/env bash
# The paper's four experiments on Saint Gall, with its settings in runners/experiments.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders saintgall --raw saintgalldb-v1.0 --output_dir data/saintgall --skip_invalid).
# Usage: runners/saintgall/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
exec "${PYTHON:-python}" "$(dirname "$0")/../experiments.py" saintgall "$@"
