# Pretraining with no download, then fine-tuning on a target collection (experiments/pretrain/run.sh).
# Every variable can be overridden from the environment, e.g. TARGET=data/bentham experiments/pretrain/run.sh
PRESET="${PRESET:-small}"
TARGET="${TARGET:-data/saintgall}"            # built target dataset (python -m data_builders saintgall ...)
OUT="${OUT:-outputs/pretrain}"
SYNTHETIC_LINES="${SYNTHETIC_LINES:-3000}"     # python -m data_builders synthetic --num_lines
# StackMix lines from a corpus: set BANK to an existing token bank (python -m augmentations.stackmix
# build-bank). A bank built from the target collection itself (e.g. outputs/saintgall/stackmix_bank)
# carries its handwriting into pretraining: the pretrained model is then not independent of the target.
BANK="${BANK:-}"
CORPUS="${CORPUS:-../shared/corpora/latin_ecclesiastical.txt}"
STACKMIX_LINES="${STACKMIX_LINES:-5000}"
# More built line datasets to pretrain on (space-separated folders or Hub ids, each with a train split),
# e.g. the lines of the LECTAUREP ALTO sample, all in train: python -m data_builders alto --raw
# ../shared/datasets/lectaurep-alto-sample --output_dir data/lectaurep --split 1,0,0 --skip_invalid
# (4 lines there have no transcription), then EXTRA_DATASETS=data/lectaurep
EXTRA_DATASETS="${EXTRA_DATASETS:-}"
PRETRAIN_EPOCHS="${PRETRAIN_EPOCHS:-30}"
# Pretrain from a model instead of random weights (a checkpoint folder or Hub id), e.g. to go on with an
# earlier pretraining under a new schedule: its architecture is kept, PRESET is not used.
PRETRAIN_FROM="${PRETRAIN_FROM:-}"
FINETUNE_EPOCHS="${FINETUNE_EPOCHS:-50}"
BATCH_SIZE="${BATCH_SIZE:-16}"
NUM_WORKERS="${NUM_WORKERS:-2}"
VOCAB_RESIZE="${VOCAB_RESIZE:-union}"
FREEZE_BACKBONE_EPOCHS="${FREEZE_BACKBONE_EPOCHS:-0}"
# A wall-clock budget in minutes for each target run (finetune, scratch) instead of FINETUNE_EPOCHS: the run
# plans its schedule to the budget and ends within it with best_cer/ scored on the test split.
TRAIN_MINUTES="${TRAIN_MINUTES:-}"
SEED="${SEED:-6955}"
LAUNCH="${LAUNCH:-python}"                     # e.g. "accelerate launch --num_processes 2 --multi_gpu"
EXTRA_ARGS="${EXTRA_ARGS:-}"                    # more train_accelerate.py arguments for every run
