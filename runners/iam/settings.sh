# IAM lines. Build: python -m data_builders iam --raw IAM --out data/iam
# Used by runners/run_experiments.sh; run: runners/iam/run.sh [base|blots|stackmix|blots_stackmix ...]
TEXT_RULES=iam
DEFAULT_EPOCHS=150
DEFAULT_BATCH_SIZE=16
DEFAULT_CORPUS=""
