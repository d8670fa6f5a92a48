#!/usr/bin/env bash
# The test suite: installs what it needs into .venv, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false NO_ALBUMENTATIONS_UPDATE=1
# One torch thread per worker process and a worker per core (at most 4: a training test takes 2-3 GB), each
# running whole test files (their module fixtures are built once). `-n 0` runs everything in this process.
exec .venv/bin/python -m pytest -n auto --maxprocesses 4 --dist loadfile "$@"
