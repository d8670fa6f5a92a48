"""Transcribe line images, or whole pages with their PAGE-XML or ALTO layout, with a checkpoint.

    python transcribe.py --model outputs/sg/best_cer --input export/ --output_dir transcribed/
    python transcribe.py --model user/model --input lines/ --output_dir out/ --format jsonl
    # many pages: the input files are shared out across processes (GPUs, or CPU processes)
    accelerate launch --num_processes 4 transcribe.py --model ... --input ... --output_dir ...

Inputs (`--input`, any number of them):
    a folder or ZIP export holding PAGE-XML or ALTO files: pages (images beside the XML or in
        page/ or alto/ subfolders, found as the page_xml and alto dataset builders find them);
    a folder without such XML: every image in it (and below) is a line image;
    an XML file: one page; an image file: one line image.

Outputs, one per input file, under --output_dir at the input's path relative to its folder
(a file given by itself: its name):
    pages, --format page or alto (default: the page's own format): the XML with every line's
        recognised text and confidence (PAGE: the line's TextEquiv with `conf`; ALTO: one String
        with CONTENT and WC) and everything else kept. In the other format: a new file with the
        page's regions, lines, polygons, baselines, reading order and recognised texts.
    pages, --format txt: the texts in reading order, one line per row; --format jsonl: one JSON
        object per line (line_id, region_id, reading_order, text, score).
    line images, --format txt (default): the text; --format jsonl: {"image", "text", "score"}.

Lines are cut out by their polygons as the builders cut them, then sorted by width within
windows and recognised in padded batches (the "handwriting-recognition" pipeline, which decodes
with the processor's batch_decode). Inputs are never modified. Each output is written atomically
once its file is done and a rerun skips files whose output exists (--overwrite redoes them), so an
interrupted run resumes where it stopped. Under `accelerate launch`, process r of N takes every
N-th input file of the sorted list: no file is read twice, and the outputs are those one process
writes. On a CPU-only machine, launch with `--multi_gpu` and ACCELERATE_USE_CPU=1 (a plain
`--cpu --num_processes N` starts one process).
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import gather_object, parse_flag_from_env
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import pipeline

from modeling_stackmix_htr.pipeline_stackmix_htr import TASK
from stackmix_htr.common.allocator import keep_large_blocks_in_heap
from stackmix_htr.common.atomic import check_output_folder
from stackmix_htr.common.errors import run_command
from stackmix_htr.common.flags import with_current_spellings
from stackmix_htr.recognition.checkpoints import load_checkpoint
from stackmix_htr.recognition.options import OLD_SPELLINGS, DecodingOptions, RuntimeOptions
from stackmix_htr.recognition.transcription import (
    OUTPUT_FORMATS,
    Counts,
    InputFiles,
    find_input_files,
    output_paths,
    read_one,
    transcribe_files,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Transcribe line images, or pages with PAGE-XML or ALTO layouts, with a StackMix-HTR checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint folder (save_pretrained output), Hub model id, or a shipped recognizer (general, saintgall)",
    )
    parser.add_argument("--input", nargs="+", required=True, help="folders, ZIP exports, XML files or line images")
    parser.add_argument("--output_dir", required=True, help="where the transcriptions go")
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help="output format (default: pages in their own XML format, line images as txt)",
    )
    RuntimeOptions.add_arguments(parser)
    DecodingOptions.add_arguments(parser)
    parser.add_argument("--num_workers", type=int, default=0, help="processes that read pages and cut lines")
    parser.add_argument("--device", default=None, help="torch device (default: this process's accelerate device)")
    parser.add_argument("--overwrite", action="store_true", help="transcribe again files whose output exists")
    parser.add_argument(
        "--skip_invalid",
        action="store_true",
        help="report unusable files (malformed XML, missing image, ...) and go on instead of stopping",
    )
    args = parser.parse_args(with_current_spellings(argv, OLD_SPELLINGS))
    args.runtime = RuntimeOptions.from_args(args, parser)
    args.decoding = DecodingOptions.from_args(args, parser)
    if args.num_workers < 0:
        parser.error("--num_workers must not be negative")
    if args.backend == "onnx":
        if args.device not in (None, "cpu"):
            parser.error(f"--backend onnx runs on the CPU; drop --device {args.device}")
        args.device = "cpu"
    return args


def main(argv=None) -> Counts:
    args = parse_args(argv)
    keep_large_blocks_in_heap()
    # CPU processes when asked (--device cpu, ACCELERATE_USE_CPU=1) or when there is no GPU: a
    # launcher's processes then share the pages over gloo.
    use_cpu = args.device == "cpu" or parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    device = torch.device(args.device) if args.device else state.device
    args.batch_size = args.runtime.batch_size_on(device)
    output_dir = check_output_folder(args.output_dir, "--output_dir")  # before the model is loaded
    files = find_input_files(args.input, args.skip_invalid, output_dir)
    paths = output_paths(files, output_dir, args.format)
    # Shared out before skipping finished files, so a resumed run gives each process the same files.
    mine = list(zip(files, paths))[state.process_index :: state.num_processes]
    todo = [(file, path) for file, path in mine if args.overwrite or not path.exists()]
    counts = Counts(skipped_done=len(mine) - len(todo))

    checkpoint = load_checkpoint(args.model, Path(args.model).name, backend=args.backend)
    args.decoding.check(checkpoint)
    recognizer = pipeline(TASK, model=checkpoint.model, processor=checkpoint.processor, device=device)
    output_of = dict(todo)
    reads = DataLoader(
        InputFiles([file for file, _ in todo], checkpoint.processor.image_processor),
        batch_size=None,
        num_workers=args.num_workers,
        collate_fn=read_one,
    )
    started = time.perf_counter()
    with tqdm(total=len(todo), unit=" files", desc="transcribing", disable=not state.is_local_main_process) as bar:
        transcribe_files(
            recognizer,
            reads,
            output_of,
            counts,
            bar,
            args.batch_size,
            args.decoding.batch_decode_kwargs(),
            args.format,
            args.skip_invalid,
        )
    counts.seconds = time.perf_counter() - started

    every = gather_object([counts])
    if state.is_main_process:
        total = Counts(**{key: sum(getattr(part, key) for part in every) for key in vars(counts) if key != "seconds"})
        total.seconds = max(part.seconds for part in every)
        rate = total.lines / total.seconds if total.seconds > 0 else 0.0
        print(
            f"transcribed {total.lines} lines ({total.pages} pages, {total.line_images} line images) in "
            f"{total.seconds:.1f} s: {rate:.1f} lines/s with {state.num_processes} process(es) on {device.type}; "
            f"{total.skipped_done} file(s) already done, {total.skipped_invalid} unusable, "
            f"{total.lines_not_cut} line(s) without a usable polygon; wrote {output_dir}"
        )
        return total
    return counts


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
