"""Train a StackMix-HTR line recognizer (ResNet-BiLSTM-CTC) with 🤗 Accelerate.

One script for every device: one CPU, one GPU, several GPUs or machines, several CPU processes.

    # one CPU process or one GPU
    python train_accelerate.py --dataset outputs/synthetic --output_dir outputs/run --model_preset small

    # several GPUs (or machines: see `accelerate config`)
    accelerate launch --multi_gpu --num_processes 4 train_accelerate.py --dataset ... --output_dir ...

    # several processes on a CPU-only machine (gloo DDP); `accelerate launch --cpu --num_processes N`
    # starts a single process, this does not:
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 train_accelerate.py --cpu ...
    # or: torchrun --nproc_per_node 2 train_accelerate.py --cpu ...

    # start from a trained model (its output layer mapped onto the new data's characters), or
    # pretrain on several datasets at once
    python train_accelerate.py --dataset data/new_hand --init_from outputs/run/best_cer --output_dir outputs/ft
    python train_accelerate.py --dataset data/synthetic --dataset data/stackmix_lines --output_dir outputs/pre

The flow: `load_dataset` -> train split with a lazy per-access transform (StackMix sample
replacement, base augmentations, blots) -> processor collation (each batch padded to its widest
line) -> AdamW + OneCycleLR -> validation CER/WER/string accuracy every epoch -> checkpoints
`best_cer/`, `best_wer/`, `best_acc/`, `last/` (`save_pretrained` folders with the processor and a
model card), a resumable state in `state/`, `metrics.jsonl`, TensorBoard logs -> test predictions
of `best_cer/` (`test_predictions.csv`, `test_results.json`).
"""

import argparse
import itertools
import json
import logging
import math
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from augmentations.stackmix.corpus import DEFAULT_CORPUS_MIX
from augmentations.transforms import TrainAugment, build_train_augmentations
from data_builders.loading import load_dataset_folder_or_hub
from modeling_stackmix_htr import StackMixHTRForCTC
from stackmix_htr.common.allocator import keep_large_blocks_in_heap
from stackmix_htr.common.atomic import check_output_folder, write_file_atomic
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.metrics.scoring import load_metric_suite
from stackmix_htr.recognition.batches import LineCollator
from stackmix_htr.training.budget import MIN_SECONDS, TrainingBudget
from stackmix_htr.training.checkpointing import load_progress, save_checkpoints, save_training_state
from stackmix_htr.training.checks import check_lines, warn_unseen_characters
from stackmix_htr.training.compile import WIDTH_BUCKET, compile_backbone
from stackmix_htr.training.data import image_sizes
from stackmix_htr.training.evaluation import evaluate, score_best_checkpoint
from stackmix_htr.training.init_from import VOCAB_RESIZE_MODES, set_backbone_trainable
from stackmix_htr.training.metrics_log import EpochTotals, JsonlLogger, epoch_row
from stackmix_htr.training.multi_dataset import interleave_train_splits, normalize_texts
from stackmix_htr.training.output_layer import parse_blank_bias, set_output_bias
from stackmix_htr.training.progress import RunProgress
from stackmix_htr.training.sampler import LineBatchSampler
from stackmix_htr.training.schedule import make_scheduler, resume_state
from stackmix_htr.training.setup import build_processor_and_model, initial_bias
from stackmix_htr.training.stopping import StopRequest, init_dataloader_worker, stop_agreed

logger = get_logger(__name__)

# folder -> (validation metric, whether lower is better)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a StackMix-HTR handwritten line recognizer with Accelerate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        action="append",
        required=True,
        help="a built dataset folder or a Hub dataset id (datasets.load_dataset); repeat it to train on several "
        "at once: their train splits are interleaved (every line once per epoch), the vocabulary holds all their "
        "characters, validation and test use the first dataset's splits",
    )
    data.add_argument(
        "--dataset_probabilities",
        type=float,
        nargs="+",
        default=None,
        help="with several --dataset: draw their lines in these proportions instead (smaller shares repeated, "
        "until every line was drawn once)",
    )
    data.add_argument("--dataset_config", default=None, help="dataset configuration name (one --dataset only)")
    data.add_argument("--train_split", default="train")
    data.add_argument("--validation_split", default="validation")
    data.add_argument("--test_split", default="test", help="split scored with best_cer/ at the end ('' to skip)")
    data.add_argument("--max_train_samples", type=int, default=None, help="use only the first N training lines")
    data.add_argument("--max_eval_samples", type=int, default=None, help="use only the first N validation/test lines")
    data.add_argument(
        "--text_rules",
        default=None,
        help="text-rules profile (none, iam, bentham, peter, hkr, saintgall, saintgall_unpunctuated); default: the one in the (first) "
        "dataset's card, else none. With several datasets, one whose card names another profile has its training "
        "texts normalised with that profile first",
    )
    data.add_argument(
        "--vocab",
        default=None,
        help="a processor/checkpoint folder whose vocabulary to use, or a text file whose characters form it; "
        "default: the characters of the training and validation texts after the text rules (the dataset's "
        "character set, as in the paper)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model_preset",
        choices=["paper", "small", "tiny"],
        default=None,
        help="default: paper; with --init_from the checkpoint's architecture (a preset given must match it)",
    )
    model.add_argument("--image_height", type=int, default=None, help="override the preset's line height")
    model.add_argument("--max_width", type=int, default=None, help="override the preset's maximum line width")
    model.add_argument("--num_channels", type=int, choices=[1, 3], default=None, help="override: 3 = RGB, 1 = gray")
    model.add_argument(
        "--init_resnet34", default=None, help="local torchvision ResNet34 ImageNet weights for stages 1-3"
    )
    model.add_argument(
        "--init_from",
        default=None,
        help="start from a trained recognizer: a checkpoint folder (best_cer/, last/, ...), a Hub model id "
        "(from_pretrained) or a shipped recognizer's short name (general, saintgall: stackmix_htr.pretrained). Its architecture is kept; --image_height may change the line height (every preset "
        "pools each column per channel over the height; --max_width then scales with it unless given). Its "
        "output layer is mapped onto this run's characters (--vocab_resize), the text rules are this run's. "
        "A new run: optimizer, schedule and "
        "epochs start afresh (--resume_from_checkpoint instead continues an interrupted run; given both, the "
        "saved state wins). --num_channels converts the stem: RGB -> gray sums each kernel over its input "
        "channels, gray -> RGB gives each channel the kernel / 3 (a gray line gives the same features)",
    )
    model.add_argument(
        "--vocab_resize",
        choices=VOCAB_RESIZE_MODES,
        default="union",
        help="with --init_from: union = the checkpoint's characters keep their rows and ids, new ones are added; "
        "new = only this data's characters, rows of known ones copied; keep = the checkpoint's vocabulary, "
        "characters outside it stop the run",
    )
    model.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="load --init_from with the code saved next to its weights (auto_map) rather than this package's classes",
    )
    model.add_argument(
        "--blank_bias",
        type=parse_blank_bias,
        default=None,
        help="initial output-layer bias of a fresh model: 'prior' (the default) sets every class's to the log of its "
        "share of the training frames (blank: the frames the labels leave over), which shortens the CTC blank "
        "plateau (bench/plateau.py); a number sets the blank's and leaves every other class at 0 (0: the paper's start)",
    )

    augment = parser.add_argument_group("augmentation")
    augment.add_argument("--use_augs", action="store_true", help="CLAHE, small rotations, JPEG compression")
    augment.add_argument("--use_blots", action="store_true", help="handwritten strikethrough blots")
    augment.add_argument("--stackmix_bank", default=None, help="StackMix token bank folder (enables StackMix)")
    augment.add_argument(
        "--corpus",
        default=None,
        help="text corpus (one line per text) for StackMix, rewritten by the text rules' spelling rules; "
        "default: recombined training transcriptions",
    )
    augment.add_argument(
        "--corpus_mix", type=float, default=DEFAULT_CORPUS_MIX, help="share of StackMix texts drawn from --corpus"
    )
    augment.add_argument(
        "--stackmix_mode",
        choices=["replace", "add"],
        default="add",
        help="add: --stackmix_ratio generated lines per real line join each batch, so every real line is still "
        "seen every epoch; replace: each training line is replaced with probability --stackmix_p (the paper's)",
    )
    augment.add_argument("--stackmix_p", type=float, default=0.8, help="replace mode: probability of replacing a line")
    augment.add_argument("--stackmix_ratio", type=float, default=1.0, help="add mode: generated lines per real line")
    augment.add_argument("--stackmix_start_epoch", type=int, default=0, help="no StackMix before this epoch")
    augment.add_argument(
        "--stackmix_ramp_epochs", type=int, default=0, help="epochs over which p or the ratio rises linearly to full"
    )

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", required=True)
    train.add_argument("--num_train_epochs", type=int, default=None, help="default: 100, unless --max_train_minutes")
    train.add_argument(
        "--max_train_minutes",
        type=float,
        default=None,
        help="train to a wall-clock budget instead of a number of epochs: the run measures its speed, plans its "
        "one-cycle schedule over the time it has (re-planned as it goes), validates at a cadence that fits, and "
        "ends within the budget with best_cer/ saved and the test split scored (start-up, validation, "
        "checkpoints and the test count too; a resumed run goes on with the rest of its budget)",
    )
    train.add_argument(
        "--eval_every_epochs",
        type=int,
        default=1,
        help="validate (and select checkpoints) every N epochs and at the end",
    )
    train.add_argument("--train_batch_size", type=int, default=16, help="lines per batch and process")
    train.add_argument("--eval_batch_size", type=int, default=32, help="lines per batch and process")
    train.add_argument("--gradient_accumulation_steps", type=int, default=1)
    train.add_argument("--learning_rate", type=float, default=2e-4, help="AdamW's initial learning rate")
    train.add_argument("--max_learning_rate", type=float, default=1e-3, help="OneCycleLR's peak learning rate")
    train.add_argument("--weight_decay", type=float, default=1e-2)
    train.add_argument("--pct_start", type=float, default=0.1, help="OneCycleLR's warm-up fraction")
    train.add_argument("--final_div_factor", type=float, default=1e5, help="OneCycleLR's final_div_factor")
    train.add_argument(
        "--max_grad_norm",
        type=float,
        default=1.0,
        help="clip gradients to this norm; 0 turns clipping off (the paper's recipe). The default keeps the "
        "high-learning-rate epochs from throwing a run off course (bench/RESULTS.md, fine-tuning)",
    )
    train.add_argument(
        "--freeze_backbone_epochs",
        type=int,
        default=0,
        help="train only the BiLSTM and the head for the first N epochs (backbone weights and batch-norm statistics fixed)",
    )
    train.add_argument("--group_by_width", action="store_true", help="batch lines of similar width together")
    train.add_argument(
        "--fixed_width",
        action="store_true",
        help="pad every line to max_width as the paper did (slower; for comparisons)",
    )
    train.add_argument(
        "--channels_last",
        action="store_true",
        help="keep convolution weights (hence activations) in channels-last layout: faster oneDNN/cuDNN kernels "
        "(use with bf16 on CPU: torch 2.13's fp32 CPU convolution backward can abort on it with few channels)",
    )
    train.add_argument(
        "--torch_compile",
        action="store_true",
        help="compile the convolutional backbone with torch.compile (Inductor); batch widths are rounded up to "
        "64 columns and each training batch shape compiles once (minutes on a CPU, where it is not faster: see "
        "bench/train_throughput.py)",
    )
    train.add_argument("--num_workers", type=int, default=2, help="DataLoader worker processes per training process")
    train.add_argument("--seed", type=int, default=6955)
    train.add_argument(
        "--mixed_precision", choices=["no", "bf16", "fp16"], default=None, help="default: accelerate config"
    )
    train.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    train.add_argument(
        "--resume_from_checkpoint", default=None, help="a state folder, or 'latest' for OUTPUT_DIR/state"
    )
    train.add_argument(
        "--checkpointing_steps", type=int, default=None, help="also save the state every N optimizer steps"
    )
    train.add_argument(
        "--report_to", default="tensorboard,jsonl", help="comma list of tensorboard, jsonl ('none' for neither)"
    )
    args = parser.parse_args(argv)

    if args.vocab and not Path(args.vocab).exists():
        parser.error(f"--vocab: {args.vocab} does not exist")
    if args.eval_every_epochs < 1:
        parser.error("--eval_every_epochs must be at least 1")
    if args.init_from:
        for flag in ("vocab", "init_resnet34", "blank_bias"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag} and --init_from: the weights and the vocabulary come from --init_from")
    else:
        args.model_preset = args.model_preset or "paper"
        args.blank_bias = "prior" if args.blank_bias is None else args.blank_bias
    if args.freeze_backbone_epochs < 0:
        parser.error("--freeze_backbone_epochs must be at least 0")
    if args.max_train_minutes is not None:
        if args.num_train_epochs is not None:
            parser.error("--max_train_minutes plans the run to a budget: give it or --num_train_epochs, not both")
        if args.max_train_minutes < MIN_SECONDS / 60:
            parser.error(f"--max_train_minutes must be at least {MIN_SECONDS / 60:g}")
        if args.eval_every_epochs != 1:
            parser.error("--max_train_minutes chooses when to validate; drop --eval_every_epochs")
    elif args.num_train_epochs is None:
        args.num_train_epochs = 100
    if args.max_grad_norm < 0:
        parser.error("--max_grad_norm must be at least 0 (0 turns clipping off)")
    if args.dataset_config and len(args.dataset) > 1:
        parser.error("--dataset_config applies to a single --dataset")
    if args.dataset_probabilities is not None:
        if len(args.dataset_probabilities) != len(args.dataset) or len(args.dataset) < 2:
            parser.error("--dataset_probabilities needs one value per --dataset, for two or more datasets")
        if min(args.dataset_probabilities) <= 0:
            parser.error("--dataset_probabilities must be positive")
    if not 0.0 <= args.stackmix_p <= 1.0:
        parser.error("--stackmix_p must lie in [0, 1]")
    if not 0.0 <= args.corpus_mix <= 1.0:
        parser.error("--corpus_mix must lie in [0, 1]")
    if min(args.stackmix_ratio, args.stackmix_start_epoch, args.stackmix_ramp_epochs) < 0:
        parser.error("--stackmix_ratio, --stackmix_start_epoch and --stackmix_ramp_epochs must be non-negative")
    if args.fixed_width and args.group_by_width:
        parser.error("--fixed_width pads every line to max_width: --group_by_width would change nothing")
    reporters = {name.strip() for name in args.report_to.split(",") if name.strip()} - {"none"}
    unknown = reporters - {"tensorboard", "jsonl"}
    if unknown:
        parser.error(f"--report_to: unknown reporter(s) {', '.join(sorted(unknown))}")
    args.report_to = sorted(reporters)
    return args


def load_splits(args, dataset: str, required: tuple[str, ...]) -> datasets.DatasetDict:
    """The dataset as a DatasetDict, a local folder read as it is on disk now; the required splits must have lines."""
    splits = load_dataset_folder_or_hub(dataset, args.dataset_config)
    for split in required:
        if split not in splits:
            raise InputError(f"{dataset} has no split {split!r}; splits: {', '.join(splits)}")
        if len(splits[split]) == 0:
            raise InputError(f"dataset {dataset}, split {split!r}: the split is empty (0 samples)")
    return splits


def load_train_split(args, text_rules: str) -> tuple[datasets.DatasetDict, datasets.Dataset]:
    """The first dataset's splits and the training split of the run: the first dataset's, or every
    --dataset's interleaved (each further dataset whose card names another text-rules profile than
    the run's has its texts normalised with that profile first)."""
    first = load_splits(args, args.dataset[0], (args.train_split, args.validation_split))
    if len(args.dataset) == 1:
        return first, first[args.train_split]
    train_splits = [first[args.train_split]]
    for name in args.dataset[1:]:
        split = load_splits(args, name, (args.train_split,))[args.train_split]
        own_rules = default_text_rules(name)
        if own_rules not in ("none", text_rules):
            logger.info(
                f"{name}: training texts normalised with its text rules {own_rules!r} (the run's: {text_rules!r})"
            )
            split = normalize_texts(split, own_rules)
        train_splits.append(split)
    mixed = interleave_train_splits(train_splits, args.dataset_probabilities, seed=args.seed)
    counts = ", ".join(f"{name} ({len(split)})" for name, split in zip(args.dataset, train_splits))
    logger.info(f"training lines of {counts} interleaved: {len(mixed)} per epoch")
    return first, mixed


def default_text_rules(dataset: str) -> str:
    """The text-rules profile named in the dataset card, or "none"."""
    from data_builders import read_text_rules

    try:
        return read_text_rules(dataset) or "none"
    except Exception as error:  # an offline Hub id or a folder without a card: fall back to no rules
        logger.warning(f"could not read the text rules from the card of {dataset} ({error}); using 'none'")
        return "none"


def load_data(args, accelerator, output_dir: Path, text_rules: str):
    """(train split, {"validation", "test"} splits, texts the vocabulary comes from)."""
    splits, train_split = load_train_split(args, text_rules)
    eval_splits = {"validation": splits[args.validation_split]}
    if args.test_split and args.test_split in splits and len(splits[args.test_split]):
        eval_splits["test"] = splits[args.test_split]
    if accelerator.is_main_process:  # only now: bad data must not leave an empty output folder
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    # The vocabulary comes from the whole train and validation splits, even for a subset run: a
    # character seen only in validation (Saint Gall has one) must still be a class. With several
    # datasets: every training line and the first dataset's validation lines.
    vocab_texts = list(train_split["text"]) + list(eval_splits["validation"]["text"])
    if args.max_train_samples is not None:
        train_split = train_split.select(range(min(args.max_train_samples, len(train_split))))
    if args.max_eval_samples is not None:
        eval_splits = {
            name: split.select(range(min(args.max_eval_samples, len(split)))) for name, split in eval_splits.items()
        }
    return train_split, eval_splits, vocab_texts


# --------------------------------------------------------------------------------- the steps of main()


def make_accelerator(args, output_dir: Path) -> Accelerator:
    """The Accelerator of the run, with one log line per event on the main process."""
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with="tensorboard" if "tensorboard" in args.report_to else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # The scheduler is stepped by hand once per optimizer step, whatever the number of processes.
        step_scheduler_with_optimizer=False,
        dataloader_config=DataLoaderConfiguration(even_batches=True),
        # A frozen backbone gets no gradients: DDP must not wait for them.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=args.freeze_backbone_epochs > 0)],
    )
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        level=logging.INFO if accelerator.is_local_main_process else logging.ERROR,
    )
    # Keep the log to one line per event: accelerate reports every saved file, transformers draws bars.
    logging.getLogger("accelerate.checkpointing").setLevel(logging.WARNING)
    logging.getLogger("accelerate.accelerator").setLevel(logging.WARNING)
    transformers.utils.logging.disable_progress_bar()
    if not accelerator.is_local_main_process:
        datasets.utils.logging.set_verbosity_error()
    logger.info(
        f"world size {accelerator.num_processes} ({accelerator.distributed_type}), device {accelerator.device}, "
        f"mixed precision {accelerator.mixed_precision}",
        main_process_only=True,
    )
    return accelerator


def build_train_transform(args, accelerator, processor) -> TrainAugment | None:
    """The lazy per-access transform of the training lines: StackMix, then the augmentations (None: neither)."""
    pre_transform = None
    if args.stackmix_bank:
        from augmentations.stackmix import StackMixReplacement

        pre_transform = StackMixReplacement(
            args.stackmix_bank,
            corpus_file=args.corpus,
            p=args.stackmix_p,
            seed=args.seed,
            rank=accelerator.process_index,
            text_rules=processor.text_rules,
            mode=args.stackmix_mode,
            ratio=args.stackmix_ratio,
            start_epoch=args.stackmix_start_epoch,
            ramp_epochs=args.stackmix_ramp_epochs,
            corpus_mix=args.corpus_mix,
        )
    augmentations = build_train_augmentations(args.use_augs, args.use_blots)
    if augmentations is None and pre_transform is None:
        return None
    return TrainAugment(augmentations, args.seed, rank=accelerator.process_index, pre_transform=pre_transform)


def build_dataloaders(args, accelerator, processor, config, train_split, eval_splits, sizes):
    """(training loader, its batch sampler, {split name: evaluation loader})."""
    pad_to_width = config.max_width if args.fixed_width else None
    width_multiple = WIDTH_BUCKET if args.torch_compile else None
    train_sampler = LineBatchSampler(
        len(train_split),
        args.train_batch_size,
        seed=args.seed,
        widths=sizes["train"][0] if args.group_by_width else None,
    )
    train_loader = DataLoader(
        train_split,
        batch_sampler=train_sampler,
        collate_fn=LineCollator(processor, pad_to_width=pad_to_width, width_multiple=width_multiple),
        num_workers=args.num_workers,
        worker_init_fn=init_dataloader_worker,
        generator=torch.Generator().manual_seed(args.seed),
        pin_memory=accelerator.device.type == "cuda",
    )
    eval_loaders = {}
    for name, split in eval_splits.items():
        # Widest lines first: batches of similar widths pad little; the order does not change the metrics.
        order = np.argsort(-sizes[name][0], kind="stable")
        eval_loaders[name] = DataLoader(
            split.select(order),
            batch_size=args.eval_batch_size,
            collate_fn=LineCollator(processor, with_labels=name == "validation", pad_to_width=pad_to_width),
            num_workers=args.num_workers,
            worker_init_fn=init_dataloader_worker,
        )
    return train_loader, train_sampler, eval_loaders


def prepare_model(args, accelerator, model, output_bias):
    """The model as training runs it: initial bias, memory layout, compiled backbone."""
    if output_bias is not None:
        set_output_bias(model, output_bias)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if args.torch_compile:
        try:
            compile_backbone(model, accelerator.device)
        except RuntimeError as error:
            raise SystemExit(f"--torch_compile: {error}") from error
        logger.info(f"backbone compiled with torch.compile; batch widths rounded up to {WIDTH_BUCKET} columns")
    return model


def train_epoch(
    args, accelerator, model, optimizer, scheduler, train_loader, epoch, progress, stop, save_state, budget
):
    """One epoch of optimizer steps (from where a resumed state stopped); returns (its totals, what ended it
    early: "signal", "budget" or None). A stop signal saves the state mid-epoch."""
    skip = progress.batches_done_in_epoch
    epoch_loader = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
    saved_totals = progress.epoch_totals if skip else None
    epoch_totals = EpochTotals(accelerator, scheduler.get_last_lr()[0], saved_totals)
    nonfinite_in_window = False
    bar = tqdm(
        total=len(train_loader), initial=skip, desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process
    )
    for step, batch in enumerate(epoch_loader, start=skip):
        with accelerator.accumulate(model):
            inputs = {"pixel_values": batch["pixel_values"], "labels": batch["labels"]}
            if "pixel_mask" in batch:
                inputs["pixel_mask"] = batch["pixel_mask"]
            loss = model(**inputs).loss
            # Every process must agree before backward (DDP all-reduces inside it): skip the
            # batch everywhere when any process sees a non-finite loss, and stop together. A budget's
            # fraction is the main process's: every process sets the same learning rate from it.
            fraction = budget.fraction() if budget is not None and accelerator.is_main_process else 0.0
            flags = accelerator.reduce(
                torch.tensor(
                    [float(not torch.isfinite(loss)), float(stop.requested), fraction], device=accelerator.device
                ),
                reduction="sum",
            )
            if budget is not None:
                budget.agreed_fraction = flags[2].item()
            if flags[0] > 0:
                nonfinite_in_window = True
                progress.nonfinite_losses += 1
                logger.warning(f"non-finite loss at epoch {epoch} batch {step}: the optimizer step is skipped")
            else:
                accelerator.backward(loss)
                epoch_totals.add_loss(loss)
            if accelerator.sync_gradients:
                if not nonfinite_in_window:
                    # With clipping off an infinite bound only measures the norm (for the log).
                    norm = accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm or math.inf)
                    if norm is not None:
                        epoch_totals.add_grad_norm(norm)
                    optimizer.step()
                epoch_totals.lr = scheduler.get_last_lr()[0]  # the rate of this update, logged
                # A skipped update still uses its slot of the schedule, which stays tied to epochs.
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                nonfinite_in_window = False
        epoch_totals.add_lines(len(batch["text"]))
        bar.update(1)
        if not accelerator.sync_gradients:
            continue
        progress.global_step += 1
        progress.batches_done_in_epoch = step + 1
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{epoch_totals.lr:.2e}")
        if flags[1] > 0:
            save_state(epoch_totals)
            bar.close()
            return epoch_totals, "signal"
        if budget is not None and budget.agreed_fraction >= 1.0:
            bar.close()
            return epoch_totals, "budget"
        if args.checkpointing_steps and progress.global_step % args.checkpointing_steps == 0:
            save_state(epoch_totals)
    bar.close()
    return epoch_totals, None


def make_budget(args, state_dir: Path | None, eval_splits: dict, started: float) -> TrainingBudget | None:
    """The run's wall-clock budget (--max_train_minutes), with what a resumed run has spent of it already."""
    if args.max_train_minutes is None:
        return None
    seconds = 60 * args.max_train_minutes
    lines = {"validation_lines": len(eval_splits["validation"]), "test_lines": len(eval_splits.get("test", ()))}
    saved = load_progress(state_dir).budget if state_dir is not None else None
    try:
        budget = TrainingBudget.resumed(saved, seconds, **lines) if saved else TrainingBudget(seconds, **lines)
    except ValueError as error:
        raise InputError(f"--max_train_minutes: {error}") from error
    budget.start(at=started)
    budget.agreed_fraction = budget.fraction()  # a resumed run's learning rate starts where it stopped
    return budget


def agreed(accelerator, value: bool) -> bool:
    """The main process's decision, taken by every process."""
    flag = torch.tensor([float(value) if accelerator.is_main_process else 0.0], device=accelerator.device)
    return accelerator.reduce(flag, reduction="sum").item() > 0


def main(argv=None):
    started = time.monotonic()
    args = parse_args(argv)
    allocator = keep_large_blocks_in_heap()
    output_dir = Path(args.output_dir)
    check_output_folder(output_dir, "--output_dir")
    accelerator = make_accelerator(args, output_dir)
    logger.info(f"memory allocator: {allocator}")
    set_seed(args.seed)

    # --- Data, processor and model --------------------------------------------------------------------
    text_rules = args.text_rules or default_text_rules(args.dataset[0])
    train_split, eval_splits, vocab_texts = load_data(args, accelerator, output_dir, text_rules)
    processor, config, model, state_dir = build_processor_and_model(args, output_dir, vocab_texts, text_rules)
    logger.info(
        f"text rules {processor.text_rules!r}, {processor.vocab_size} classes, preset {args.model_preset or 'of --init_from'} "
        f"({config.image_height} x {config.max_width}, {config.num_channels} channel(s))"
    )
    sizes = {"train": image_sizes(train_split)} | {name: image_sizes(split) for name, split in eval_splits.items()}
    check_lines(
        accelerator,
        processor,
        config,
        {"train": train_split, "validation": eval_splits["validation"]},
        sizes,
        output_dir,
    )
    output_bias = initial_bias(args, processor, config, train_split, sizes["train"]) if state_dir is None else None
    warn_unseen_characters(processor, train_split, eval_splits)
    train_transform = build_train_transform(args, accelerator, processor)
    if train_transform is not None:
        train_split = train_split.with_transform(train_transform)
    train_loader, train_sampler, eval_loaders = build_dataloaders(
        args, accelerator, processor, config, train_split, eval_splits, sizes
    )
    model = prepare_model(args, accelerator, model if model is not None else StackMixHTRForCTC(config), output_bias)

    # --- Optimizer, schedule, resumed state, loggers ----------------------------------------------------
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    model, optimizer, train_loader, *prepared_eval = accelerator.prepare(
        model, optimizer, train_loader, *eval_loaders.values()
    )
    eval_loaders = dict(zip(eval_loaders, prepared_eval))
    # One scheduler step per optimizer step; the prepared loader is this process's shard.
    updates_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    total_updates = updates_per_epoch * args.num_train_epochs if args.num_train_epochs else None
    budget = make_budget(args, state_dir, eval_splits, started)
    scheduler = accelerator.prepare(make_scheduler(args, optimizer, total_updates, budget))
    progress = RunProgress()
    if state_dir is not None:
        progress = resume_state(accelerator, state_dir, scheduler, updates_per_epoch, args.num_train_epochs)

    tracker_config = {key: value for key, value in vars(args).items() if isinstance(value, (int, float, str, bool))}
    # Epochs logged after the resumed state was saved are logged again: TensorBoard hides the old ones.
    init_kwargs = {"tensorboard": {"purge_step": progress.epoch}} if state_dir is not None else {}
    accelerator.init_trackers("stackmix_htr", config=tracker_config, init_kwargs=init_kwargs)
    jsonl = (
        JsonlLogger(output_dir / "metrics.jsonl") if "jsonl" in args.report_to and accelerator.is_main_process else None
    )
    if jsonl is not None and state_dir is not None:
        jsonl.keep_epochs_before(progress.epoch)
    suite = load_metric_suite()

    def save_state(unfinished_epoch: EpochTotals | None = None):
        # Mid-epoch, the epoch's totals so far go into the state: a resumed epoch reports all of it.
        progress.epoch_totals = unfinished_epoch.totals() if unfinished_epoch is not None else None
        if budget is not None:
            if unfinished_epoch is not None:
                budget.charge("training")
            progress.budget = budget.state()
        config = accelerator.unwrap_model(model).config
        save_training_state(accelerator, output_dir / "state", progress, config, processor)

    # --- Training: an epoch, validation every --eval_every_epochs, checkpoints, the state -------------------
    stop = StopRequest()
    schedule = f"{total_updates} in total" if budget is None else f"as many as {args.max_train_minutes:g} minutes hold"
    logger.info(
        f"training: {len(train_split)} lines, {len(train_loader)} batches per epoch and process, "
        f"{updates_per_epoch} optimizer steps per epoch, {schedule}"
    )
    stopped = False
    if budget is not None:
        budget.charge("startup")
    epochs = itertools.count(progress.epoch) if budget is not None else range(progress.epoch, args.num_train_epochs)
    for epoch in epochs:
        if budget is not None and budget.agreed_fraction >= 1.0:
            break  # resumed after the budget ran out: only the test is left
        model.train()
        if args.freeze_backbone_epochs:
            set_backbone_trainable(accelerator.unwrap_model(model), trainable=epoch >= args.freeze_backbone_epochs)
        if train_transform is not None:
            train_transform.set_epoch(epoch)  # and StackMix's
        train_sampler.set_epoch(epoch)
        train_loader.set_epoch(epoch)
        epoch_totals, ended_by = train_epoch(
            args, accelerator, model, optimizer, scheduler, train_loader, epoch, progress, stop, save_state, budget
        )
        if ended_by == "signal":
            stopped = True
            break
        train = epoch_totals.totals()  # before validation: its seconds are training time
        out_of_budget = ended_by == "budget"
        if budget is None:
            validated = (epoch + 1) % args.eval_every_epochs == 0 or epoch + 1 == args.num_train_epochs
        else:
            budget.charge_training(int(train["lines"]))
            validated = out_of_budget or agreed(accelerator, budget.validation_due())
        validation_started = time.perf_counter()
        validation = evaluate(model, eval_loaders["validation"], accelerator, processor, suite)[0] if validated else {}
        if budget is not None and validated:
            budget.measure_validation(budget.charge("validation"))
        # Training and validation time of the whole run, resumed processes included (start-ups are not).
        progress.elapsed_seconds += train["seconds"] + time.perf_counter() - validation_started
        row = epoch_row(accelerator, epoch, progress, train, validation, budget)
        validation_text = (
            f", val loss {row['val_loss']:.4f}, CER {row['cer']:.4f}, WER {row['wer']:.4f}, "
            f"accuracy {row['string_accuracy']:.4f}"
            if validated
            else ""
        )
        logger.info(
            f"epoch {epoch}: train loss {row['train_loss']:.4f}{validation_text}, "
            f"{row['train_samples_per_second']:.1f} lines/s"
        )
        accelerator.log({key: value for key, value in row.items() if key != "epoch"}, step=epoch)
        if jsonl is not None:
            jsonl.log(row)

        progress.epoch = epoch + 1
        progress.batches_done_in_epoch = 0
        save_checkpoints(args, accelerator, model, processor, output_dir, epoch, progress, validation)
        save_state()
        if budget is not None:
            budget.measure_checkpoints(budget.charge("checkpoints"))
        if out_of_budget:
            break
        if stop_agreed(accelerator, stop):
            stopped = True
            break

    if stopped:
        message = (
            f"stopped by {stop.signal_name or 'a signal on another process'}: state saved to {output_dir / 'state'}; "
            "resume with --resume_from_checkpoint latest"
        )
        logger.info(message)
        accelerator.end_training()
        sys.exit(message)
    stop.restore()
    score_best_checkpoint(accelerator, processor, suite, eval_loaders, eval_splits, output_dir)
    if budget is not None:
        budget.charge("test")
        logger.info(budget.summary())
        if accelerator.is_main_process:
            write_file_atomic(output_dir / "budget.json", (json.dumps(budget.state(), indent=2) + "\n").encode())
    accelerator.end_training()


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
