#!/usr/bin/env bash
# The paper's experiments on Digital Peter. Build: python -m data_builders peter --raw digital_peter --out data/peter (settings in settings.sh; DATA, OUT, CORPUS... override them).
exec "$(dirname "$0")/../run_experiments.sh" peter "$@"
