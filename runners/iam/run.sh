#!/usr/bin/env bash
# The paper's experiments on IAM lines. Build: python -m data_builders iam --raw IAM --out data/iam (settings in settings.sh; DATA, OUT, CORPUS... override them).
exec "$(dirname "$0")/../run_experiments.sh" iam "$@"
