# Digital Peter. Build: python -m data_builders peter --raw digital_peter --out data/peter
# Used by runners/run_experiments.sh; run: runners/peter/run.sh [base|blots|stackmix|blots_stackmix ...]
TEXT_RULES=peter
DEFAULT_EPOCHS=150
DEFAULT_BATCH_SIZE=16
DEFAULT_CORPUS=""
