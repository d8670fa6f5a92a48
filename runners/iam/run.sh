#!/usr/bin/env bash
# The paper's four experiments on IAM lines, with its settings in runners/experiments.py (DATASETS);
# flags given here override them, e.g. --raw FOLDER, or --data for a dataset built beforehand
# (python -m data_builders iam --raw IAM --output_dir data/iam).
# Usage: runners/iam/run.sh [--experiments base blots ...] [--seeds N] [--preset paper] [--help]
exec "${PYTHON:-python}" "$(dirname "$0")/../experiments.py" iam "$@"
