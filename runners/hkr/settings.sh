# HKR (Kazakh and Russian). Build: python -m data_builders hkr --raw HKR --out data/hkr
# Used by runners/run_experiments.sh; run: runners/hkr/run.sh [base|blots|stackmix|blots_stackmix ...]
TEXT_RULES=hkr
DEFAULT_EPOCHS=150
DEFAULT_BATCH_SIZE=16
DEFAULT_CORPUS=""
