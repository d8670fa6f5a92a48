# Bentham (tranScriptorium BenthamR0). Build: python -m data_builders bentham --raw BenthamDatasetR0-GT --out data/bentham
# Used by runners/run_experiments.sh; run: runners/bentham/run.sh [base|blots|stackmix|blots_stackmix ...]
TEXT_RULES=bentham
DEFAULT_EPOCHS=300
DEFAULT_BATCH_SIZE=16
DEFAULT_CORPUS=""
