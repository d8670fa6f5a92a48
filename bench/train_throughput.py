"""Training throughput: lines/s and peak memory of one optimizer step, per model preset and dataset,
for paper-style fixed padding (every line on a max_width canvas, no mask) against variable-width
batches (padded to the batch's widest line, with and without width grouping), in float32 and
bfloat16 autocast (also with channels-last convolutions), eager and with the backbone compiled
(`--torch_compile`: batch widths rounded up to 64 columns, one graph per shape), with the memory
allocator the training command sets up (`--allocators tuned`, the default) or as the process started
(`default`: glibc's settings, or whatever GLIBC_TUNABLES / LD_PRELOAD choose, e.g. tcmalloc).

Datasets: Saint Gall (lines nearly fill the canvas) and an IAM-like synthetic set whose widths vary
as IAM's do (aspect ratios around 13 with a tail of short lines), where padding matters. Each
setting runs in its own process (so the peak memory is its own) over the first batches of the
training split's epoch-0 order; batches are collated before timing, as DataLoader workers would
do, so the figures are those of the model step (forward, CTC loss, backward, AdamW). Besides
wall-clock lines/s, each row gives lines per CPU-second of the process, which a busy shared
machine disturbs less (use `--threads 1` there). The CPU section always runs; the GPU section
runs when CUDA is available.

    python bench/train_throughput.py                                    # Saint Gall built from ../shared
    python bench/train_throughput.py --dataset outputs/exp/saintgall --presets small --skip_compiled
    python bench/train_throughput.py --presets small --settings variable-fp32 --allocators default,tuned
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO_ROOT.parent / "shared" / "datasets" / "saintgalldb-v1.0"
IAM_LIKE = "iam-like"
# (padding, autocast precision, channels-last convolutions, compiled backbone); the first is the baseline.
SETTINGS = (
    ("fixed", "fp32", False, False),
    ("fixed", "bf16", True, False),
    ("variable", "fp32", False, False),
    ("variable", "bf16", True, False),
    ("grouped", "fp32", False, False),
    ("grouped", "bf16", False, False),
    ("grouped", "bf16", True, False),
    ("fixed", "fp32", False, True),
    ("grouped", "fp32", False, True),
    ("grouped", "bf16", True, True),
)
# (batch size, warm-up steps, timed steps) per preset on a CPU: the paper preset takes tens of
# seconds a step there, so it gets fewer steps.
CPU_STEPS = {"paper": (4, 0, 2), "small": (8, 1, 4), "tiny": (8, 2, 10)}
GPU_STEPS = {"paper": (16, 3, 20), "small": (32, 3, 20), "tiny": (32, 3, 20)}


def iam_like_split(num_lines: int, image_height: int, max_width: int, seed: int = 0):
    """Synthetic lines whose widths vary like IAM's: aspect ratio ~ N(13, 4.5) clipped to [2, 16]
    (a tail of short last-lines-of-paragraphs), strokes at random columns, one character per half
    line height so that every label fits its CTC frames."""
    import datasets
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ratios = np.clip(rng.normal(13.0, 4.5, num_lines), 2.0, 16.0)
    widths = np.minimum(max_width, (ratios * image_height).astype(int))
    alphabet = list("abcdefghijklmnopqrstuvwxyz ")
    images, texts = [], []
    for width in widths:
        pixels = np.full((image_height, width), 230, dtype=np.uint8)
        for column in rng.integers(0, width, size=max(1, width // 6)):
            pixels[image_height // 4 : 3 * image_height // 4, column : column + 2] = 20
        images.append(Image.fromarray(pixels, mode="L"))
        length = max(1, int(width / (image_height / 2)))
        texts.append("".join(rng.choice(alphabet[:-1], 1)) + "".join(rng.choice(alphabet, length - 1)))
    return datasets.Dataset.from_dict(
        {"sample_id": [f"line-{i}" for i in range(num_lines)], "image": images, "text": texts}
    ).cast_column("image", datasets.Image())


def measure(setting: dict) -> dict:
    """Time `setting["steps"]` optimizer steps after `setting["warmup"]` untimed ones and an untimed pass
    over the same batches."""
    import torch

    from data_builders import load_dataset_folder_or_hub, read_text_rules
    from modeling_stackmix_htr import (
        StackMixHTRConfig,
        StackMixHTRForCTC,
        StackMixHTRImageProcessor,
        StackMixHTRProcessor,
    )
    from stackmix_htr.common.allocator import allocator_as_started, keep_large_blocks_in_heap
    from stackmix_htr.recognition.batches import LineCollator
    from stackmix_htr.training.compile import WIDTH_BUCKET, compile_backbone
    from stackmix_htr.training.data import image_sizes
    from stackmix_htr.training.metrics_log import peak_memory_mb
    from stackmix_htr.training.sampler import LineBatchSampler

    allocator = keep_large_blocks_in_heap() if setting["allocator"] == "tuned" else allocator_as_started()
    torch.manual_seed(0)
    device = torch.device(setting["device"])
    if setting.get("threads"):
        torch.set_num_threads(setting["threads"])
    config = StackMixHTRConfig.from_preset(setting["preset"])
    if setting["dataset"] == IAM_LIKE:
        train = iam_like_split(setting["batch_size"] * 60, config.image_height, config.max_width)
        text_rules = "none"
    else:
        train = load_dataset_folder_or_hub(setting["dataset"], split="train")
        text_rules = read_text_rules(setting["dataset"]) or "none"
    tokenizer = StackMixHTRProcessor.from_texts(list(train["text"]), text_rules=text_rules).tokenizer
    image_processor = StackMixHTRImageProcessor(image_height=config.image_height, max_width=config.max_width)
    processor = StackMixHTRProcessor(image_processor, tokenizer, text_rules=text_rules)
    config.vocab_size = processor.vocab_size

    batch_size, warmup, steps = setting["batch_size"], setting["warmup"], setting["steps"]
    widths = image_sizes(train)[0] if setting["padding"] == "grouped" else None
    sampler = LineBatchSampler(len(train), batch_size, seed=6955, widths=widths, drop_last=True)
    collate = LineCollator(
        processor,
        pad_to_width=config.max_width if setting["padding"] == "fixed" else None,
        width_multiple=WIDTH_BUCKET if setting["compiled"] else None,
    )
    batches, valid_columns = [], 0
    all_widths, all_heights = image_sizes(train)
    for indices in sampler:
        if len(batches) == warmup + steps:
            break
        batches.append(collate([train[i] for i in indices]))
        if len(batches) > warmup:
            valid_columns += sum(image_processor.fit_size(all_widths[i], all_heights[i])[0] for i in indices)
    if len(batches) < warmup + steps:
        raise SystemExit(
            f"{setting['dataset']}: not enough training lines for {warmup + steps} batches of {batch_size}"
        )

    model = StackMixHTRForCTC(config).to(device).train()
    if setting["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    if setting["compiled"]:
        compile_backbone(model, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-2)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting["precision"] == "bf16")
    # The warm-up steps first, then a pass over the timed batches to let the kernels of every
    # batch shape be built: what a long run sees once widths (multiples of 8) repeat.
    timed = cpu_timed = 0.0
    for step, batch in enumerate(batches + batches[warmup:]):
        inputs = {key: batch[key].to(device) for key in ("pixel_values", "pixel_mask", "labels") if key in batch}
        if device.type == "cuda":
            torch.cuda.synchronize()
        started, cpu_started = time.perf_counter(), time.process_time()
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup + steps:
            timed += time.perf_counter() - started
            cpu_timed += time.process_time() - cpu_started
    return {
        **setting,
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "lines_per_second": steps * batch_size / timed,
        # lines per second of CPU time used by this process: steadier than wall time on a shared machine
        "lines_per_cpu_second": steps * batch_size / cpu_timed,
        "seconds_per_step": timed / steps,
        "mean_batch_width": sum(b["pixel_values"].shape[-1] for b in batches[warmup:]) / steps,
        # share of the computed columns that are padding (what batch-norm statistics also see)
        "padding_share": 1 - valid_columns / sum(b["pixel_values"].shape[-1] * batch_size for b in batches[warmup:]),
        "peak_memory_mb": peak_memory_mb(device),
        "allocator_used": allocator,
    }


def setting_name(padding: str, precision: str, channels_last: bool, compiled: bool) -> str:
    return "-".join([padding, precision] + ["cl"] * channels_last + ["compiled"] * compiled)


def describe(row: dict) -> str:
    return (
        row["precision"] + (" channels-last" if row["channels_last"] else "") + (" compiled" if row["compiled"] else "")
    )


def ensure_dataset(args) -> str:
    if args.dataset:
        return args.dataset
    from data_builders import build

    out = Path(tempfile.mkdtemp(prefix="bench-saintgall-")) / "saintgall"
    build("saintgall", args.raw, out, skip_invalid=True, progress=False)
    return str(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", help="a built dataset folder (default: Saint Gall built from --raw into a temp dir)"
    )
    parser.add_argument(
        "--raw", default=str(DEFAULT_RAW), help="raw Saint Gall database, used when --dataset is absent"
    )
    parser.add_argument("--presets", default="paper,small", help="comma list of model presets")
    parser.add_argument("--datasets", default=f"saintgall,{IAM_LIKE}", help=f"comma list of saintgall and {IAM_LIKE}")
    parser.add_argument(
        "--skip_compiled", action="store_true", help="leave out the compiled settings (minutes each on a CPU)"
    )
    parser.add_argument(
        "--settings",
        help="comma list of settings to run, e.g. fixed-fp32,grouped-bf16-cl,grouped-bf16-cl-compiled "
        "(default: all; the first one is the baseline)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    parser.add_argument(
        "--allocators",
        default="tuned",
        help="comma list: tuned (glibc set up as the training command does) and/or default (as the process started)",
    )
    parser.add_argument("--batch_size", type=int, help="lines per step (default: per preset and device, see CPU_STEPS)")
    parser.add_argument("--warmup", type=int, help="untimed steps first")
    parser.add_argument("--steps", type=int, help="timed steps")
    parser.add_argument("--json_out", help="also write all rows as JSON to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one setting as JSON, run in a child process
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return

    import torch

    names = args.datasets.split(",")
    datasets = {name: (ensure_dataset(args) if name == "saintgall" else IAM_LIKE) for name in names}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    settings = [s for s in SETTINGS if not (args.skip_compiled and s[3])]
    if args.settings:
        by_name = {setting_name(*setting): setting for setting in SETTINGS}
        unknown = [name for name in args.settings.split(",") if name not in by_name]
        if unknown:
            parser.error(f"--settings: unknown {unknown}; choose from {', '.join(by_name)}")
        settings = [by_name[name] for name in args.settings.split(",")]
    allocators = args.allocators.split(",")
    if set(allocators) - {"tuned", "default"}:
        parser.error(f"--allocators: choose from tuned, default; got {args.allocators}")
    rows = []
    for device in devices:
        for preset in args.presets.split(","):
            defaults = CPU_STEPS[preset] if device == "cpu" else GPU_STEPS[preset]
            batch_size, warmup, steps = (
                given or default for given, default in zip((args.batch_size, args.warmup, args.steps), defaults)
            )
            common = {"device": device, "threads": args.threads, "preset": preset, "batch_size": batch_size}
            common.update(warmup=warmup, steps=steps)
            for name, dataset in datasets.items():
                for (padding, precision, channels_last, compiled), allocator in itertools.product(settings, allocators):
                    setting = {**common, "dataset": dataset, "dataset_name": name, "padding": padding}
                    setting.update(precision=precision, channels_last=channels_last, compiled=compiled)
                    setting.update(allocator=allocator)
                    result = subprocess.run(
                        [sys.executable, __file__, "--worker", json.dumps(setting)],
                        capture_output=True,
                        text=True,
                        env={**os.environ, "TQDM_DISABLE": "1"},
                    )
                    if result.returncode:
                        sys.exit(f"setting {setting} failed:\n{result.stderr[-3000:]}")
                    row = json.loads(result.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(
                        f"{device:4s} {preset:6s} {name:9s} {padding:9s} {describe(row):27s} batch {batch_size:2d}: "
                        f"{row['lines_per_second']:8.2f} lines/s, {row['lines_per_cpu_second']:.2f} per CPU-second "
                        f"({row['seconds_per_step']:.3f} s/step, "
                        f"mean width {row['mean_batch_width']:.0f} px, padding {100 * row['padding_share']:.0f} %), "
                        f"peak memory {row['peak_memory_mb']:.0f} MB; allocator: {row['allocator_used']}",
                        flush=True,
                    )

    print(f"\ndatasets {datasets}")
    print(
        "| device | preset | dataset | padding | precision, layout | allocator | batch | lines/s | lines/CPU-s | s/step "
        "| mean width | padding % | peak MB | vs baseline (wall) | vs baseline (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for device in devices:
        for preset in args.presets.split(","):
            for name in names:
                group = [r for r in rows if (r["device"], r["preset"], r["dataset_name"]) == (device, preset, name)]
                baseline = group[0]  # the first setting: fixed fp32 eager by default
                for row in group:
                    print(
                        f"| {row['device_name']} | {preset} | {name} | {row['padding']} | {describe(row)} "
                        f"| {row['allocator_used']} "
                        f"| {row['batch_size']} | {row['lines_per_second']:.2f} | {row['lines_per_cpu_second']:.2f} "
                        f"| {row['seconds_per_step']:.3f} "
                        f"| {row['mean_batch_width']:.0f} | {100 * row['padding_share']:.0f} | {row['peak_memory_mb']:.0f} "
                        f"| {row['lines_per_second'] / baseline['lines_per_second']:.2f}x "
                        f"| {row['lines_per_cpu_second'] / baseline['lines_per_cpu_second']:.2f}x |"
                    )
                variable = [row for row in group if row["padding"] != "fixed"]
                fixed = [row for row in group if row["padding"] == "fixed"]
                if not variable or not fixed:
                    continue
                best = max(variable, key=lambda row: row["lines_per_second"])
                fixed_best = max(fixed, key=lambda row: row["lines_per_second"])
                print(
                    f"{device} {preset} {name}: best variable-width setting ({best['padding']}, {describe(best)}) is "
                    f"{best['lines_per_second'] / baseline['lines_per_second']:.2f}x the fixed-padding float32 baseline "
                    f"and {best['lines_per_second'] / fixed_best['lines_per_second']:.2f}x the best fixed-padding setting "
                    f"({describe(fixed_best)})"
                )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
