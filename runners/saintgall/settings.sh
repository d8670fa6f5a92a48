# Saint Gall. Build: python -m data_builders saintgall --raw saintgalldb-v1.0 --out data/saintgall --skip-invalid
# Used by runners/run_experiments.sh; run: runners/saintgall/run.sh [base|blots|stackmix|blots_stackmix ...]
TEXT_RULES=saintgall
DEFAULT_EPOCHS=150
DEFAULT_BATCH_SIZE=16
DEFAULT_CORPUS="../shared/corpora/latin_ecclesiastical.txt"
