#!/usr/bin/env bash
# The paper's experiments on Saint Gall. Build: python -m data_builders saintgall --raw saintgalldb-v1.0 --out data/saintgall --skip-invalid (settings in settings.sh; DATA, OUT, CORPUS... override them).
exec "$(dirname "$0")/../run_experiments.sh" saintgall "$@"
