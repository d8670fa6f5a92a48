#!/usr/bin/env bash
# The paper's experiments on Bentham (tranScriptorium BenthamR0). Build: python -m data_builders bentham --raw BenthamDatasetR0-GT --out data/bentham (settings in settings.sh; DATA, OUT, CORPUS... override them).
exec "$(dirname "$0")/../run_experiments.sh" bentham "$@"
