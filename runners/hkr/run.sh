#!/usr/bin/env bash
# The paper's experiments on HKR (Kazakh and Russian). Build: python -m data_builders hkr --raw HKR --out data/hkr (settings in settings.sh; DATA, OUT, CORPUS... override them).
exec "$(dirname "$0")/../run_experiments.sh" hkr "$@"
