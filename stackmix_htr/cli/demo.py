"""A demo page for a StackMix-HTR checkpoint: read a line or a page, write a text in the manuscript's hand.

    python app.py --model outputs/sg/best_cer --bank outputs/sg_bank          # or: stackmix-demo ...
    python app.py --model user/model --bank user/bank --examples lines/ page.xml --server_name 0.0.0.0

Read: a line image, or a page image with its PAGE-XML or ALTO file, gives the recognised text,
its score and the line(s) with each character's columns shaded by the model's confidence in it
(red: unsure, green: sure), decoded greedily or by beam search (with the checkpoint's language
model when it has one). Write (with --bank): a typed text becomes a handwritten line stacked
from the bank's slices; the seed is shown, and characters the bank cannot write are named and
left out.

Examples come from --examples (line images, folders of them, PAGE/ALTO files) or else from the
bank's lines and texts. The page is served by gradio on this machine only, with its usage
statistics off; nothing is fetched from the network (a Hub id is downloaded once, like any
`from_pretrained`). On a Hugging Face Space, which runs `python app.py` as it is, the variables
STACKMIX_HTR_MODEL and STACKMIX_HTR_BANK name the checkpoint and the bank.
"""

import os

# Before gradio is imported: no usage statistics, no version check.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from augmentations.stackmix import StackMixGenerator
from augmentations.stackmix.writing import write_line
from modeling_stackmix_htr.pipeline_stackmix_htr import TASK
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.common.hub import could_be_hub_id
from stackmix_htr.page_formats import (
    IMAGE_SUFFIXES,
    PageSource,
    find_page_image,
    read_layout,
)
from stackmix_htr.page_formats.files import page_root
from stackmix_htr.recognition.character_spans import shade_spans
from stackmix_htr.recognition.checkpoints import load_checkpoint
from stackmix_htr.recognition.frame_mapping import FrameMapping
from stackmix_htr.recognition.options import DecodingOptions
from stackmix_htr.recognition.reading import page_lines, probe_mapping, read_line

MAX_EXAMPLES = 6
LINE_GAP = 8  # pixels between the lines of a page in the shaded view
SPAN_COLUMNS = ["line", "character", "x1", "x2", "confidence"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("STACKMIX_HTR_MODEL"),
        help="checkpoint folder, Hub model id or a shipped recognizer (general, saintgall)",
    )
    parser.add_argument(
        "--bank", default=os.environ.get("STACKMIX_HTR_BANK"), help="StackMix token bank folder or Hub dataset id"
    )
    parser.add_argument(
        "--examples", nargs="*", default=[], help="line images, folders of line images, PAGE-XML or ALTO files"
    )
    parser.add_argument(
        "--frame_mapping",
        choices=("measured", "nominal"),
        default="measured",
        help="where frames look in the line: measured on example lines (nominal without them), or the nominal frame centres",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument(
        "--server_name", default=None, help="address to serve on (default: gradio's, 127.0.0.1, or $GRADIO_SERVER_NAME)"
    )
    parser.add_argument(
        "--server_port", type=int, default=None, help="port (default: gradio's, 7860 or the next free one)"
    )
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("--model is required (or set STACKMIX_HTR_MODEL)")
    return args


# ----------------------------------------------------------------------------- what the page serves


@dataclass
class Demo:
    recognizer: object  # the "handwriting-recognition" pipeline
    generator: StackMixGenerator | None
    mapping: FrameMapping
    beam_note: str | None  # why beam search is not offered, when it is not
    line_examples: list[list[str | None]]  # [image, layout file or None]
    text_examples: list[str]

    @property
    def processor(self):
        return self.recognizer.processor


def load_bank(bank: str) -> StackMixGenerator:
    """A bank folder, or a bank pushed to the Hub as a dataset repo."""
    if not Path(bank).is_dir() and could_be_hub_id(bank):
        from huggingface_hub import snapshot_download

        try:
            bank = snapshot_download(bank, repo_type="dataset")
        except Exception as error:  # offline, no such repo, no access
            raise InputError(
                f"bank {bank}: no such folder, and the Hub has no dataset of that name ({type(error).__name__}: {error})"
            ) from error
    return StackMixGenerator.from_bank(bank)


def example_lines(paths: list[str]) -> list[list[str | None]]:
    """[image, layout] rows of --examples: line images (a folder's first ones), or pages with their XML."""
    rows = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            rows += [[str(image), None] for image in images[:MAX_EXAMPLES]]
        elif path.suffix.lower() == ".xml" and path.is_file():
            root = page_root(path)
            image_filename = read_layout(path.read_bytes()).image_filename
            image = find_page_image(PageSource(root), path.relative_to(root).as_posix(), image_filename)
            if image is None:
                raise InputError(f"example {path}: its page image is neither beside it nor above its page/alto folder")
            rows.append([str(root / image), str(path)])
        elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            rows.append([str(path), None])
        else:
            raise InputError(f"example {path}: not a line image, a folder of them, or a PAGE/ALTO file")
    return rows[:MAX_EXAMPLES]


def bank_lines(generator: StackMixGenerator, folder: Path) -> list[list[str | None]]:
    """A few of the bank's lines, written as PNG files into `folder`."""
    lines = []
    for index in range(min(MAX_EXAMPLES, len(generator.bank.texts))):
        path = folder / f"bank-line-{index}.png"
        Image.fromarray(np.ascontiguousarray(generator.bank.line_image(index))).save(path)
        lines.append([str(path), None])
    return lines


def bank_texts(generator: StackMixGenerator) -> list[str]:
    """The bank's shortest distinct texts of at least 8 characters (its shortest ones when none is that long)."""
    texts = sorted(dict.fromkeys(generator.bank.texts), key=len)
    return [text for text in texts if len(text) >= 8][:MAX_EXAMPLES] or texts[:MAX_EXAMPLES]


def build_demo(args, examples_folder: Path) -> Demo:
    checkpoint = load_checkpoint(args.model, Path(args.model).name)
    beam_note = None
    try:
        DecodingOptions(decoder="beam").check(checkpoint)
    except InputError as error:
        beam_note = str(error)
        checkpoint.processor.decoder = "greedy"
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    recognizer = pipeline(TASK, model=checkpoint.model, processor=checkpoint.processor, device=device)
    generator = load_bank(args.bank) if args.bank else None
    if args.examples:
        lines = example_lines(args.examples)
    else:
        lines = bank_lines(generator, examples_folder) if generator else []
    texts = bank_texts(generator) if generator else []
    mapping = (
        probe_mapping(recognizer, [image for image, layout in lines if layout is None])
        if args.frame_mapping == "measured"
        else FrameMapping.nominal(checkpoint.model.config.width_stride)
    )
    return Demo(recognizer, generator, mapping, beam_note, lines, texts)


# ----------------------------------------------------------------------------- reading


def decoding_of(demo: Demo, decoder: str, beam_width, alpha, beta) -> dict:
    if decoder == "greedy":
        return {"decoder": "greedy"}
    decoding = {"decoder": "beam", "beam_width": int(beam_width)}
    if demo.processor.has_language_model:
        decoding.update(alpha=float(alpha), beta=float(beta))
    return decoding


def read(demo: Demo, image_path, layout_path, decoder, beam_width, alpha, beta):
    if not image_path:
        raise gr.Error("Drop a line image, or a page image with its PAGE-XML or ALTO file.")
    decoding = decoding_of(demo, decoder, beam_width, alpha, beta)
    try:
        if layout_path:
            lines, not_cut = page_lines(image_path, layout_path)
        else:
            lines, not_cut = [("line", image_path)], 0
        readings = [
            (line_id, image, *read_line(demo.recognizer, demo.mapping, image, decoding)) for line_id, image in lines
        ]
    except (InputError, OSError, ValueError) as error:
        raise gr.Error(str(error)) from error
    if not readings:
        raise gr.Error(
            f"{Path(layout_path).name}: no line of the page could be cut out ({not_cut} without a usable polygon)"
        )
    shaded, rows = [], []
    for line_id, image, text, score, spans in readings:
        if isinstance(image, str):
            with Image.open(image) as opened:
                image = np.asarray(opened.convert("RGB"))
        shaded.append(shade_spans(image, spans))
        rows += [[line_id, span.label, span.x1, span.x2, round(span.confidence, 3)] for span in spans]
    score = float(np.mean([score for *_, score, _ in readings]))
    info = f"{len(readings)} line(s), {decoding['decoder']} decoding" + (
        f"; {not_cut} line(s) without a usable polygon left out" if not_cut else ""
    )
    return "\n".join(text for _, _, text, _, _ in readings), round(score, 4), stack_lines(shaded), rows, info


def stack_lines(lines: list[np.ndarray]) -> np.ndarray:
    """RGB lines one below the other, in reading order, on white with a gap between them."""
    width = max(line.shape[1] for line in lines)
    gap = np.full((LINE_GAP, width, 3), 255, dtype=np.uint8)
    rows = []
    for line in lines:
        rows += [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255), gap]
    return np.concatenate(rows[:-1])


# ----------------------------------------------------------------------------- writing


def write(demo: Demo, text: str, seed, randomize: bool):
    if not text or not text.strip():
        raise gr.Error("Type a text to write.")
    seed = int(np.random.default_rng().integers(2**31)) if randomize or seed is None else int(seed)
    written = write_line(demo.generator, text, seed)
    notes = []
    if written.missing:
        listed = ", ".join(repr(char) for char in written.missing)
        notes.append(f"The bank cannot write {listed}: left out.")
    if written.image is None:
        notes.append("Nothing of this text can be written with the bank.")
    else:
        notes.append(f"Wrote {written.text!r} from {len(written.tokens)} slices with seed {seed}.")
    return written.image, seed, " ".join(notes)


# ----------------------------------------------------------------------------- the page


def reports_unreadable_uploads(component: gr.Image) -> gr.Image:
    """`component`, reporting an upload it cannot decode in the page's words (gradio's own message is generic)."""
    decode = component.preprocess

    def preprocess(payload):
        try:
            return decode(payload)
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            name = getattr(payload, "orig_name", None) or "The upload"
            raise gr.Error(f"{name} is not an image this page can read (PNG, JPEG, TIFF, ...): {error}") from error

    component.preprocess = preprocess
    return component


def build_page(demo: Demo) -> gr.Blocks:
    processor = demo.processor
    decoders = [("greedy", "greedy")]
    if demo.beam_note is None:
        decoders.append(("beam search + language model" if processor.has_language_model else "beam search", "beam"))
    with gr.Blocks(title="StackMix-HTR") as page:
        gr.Markdown("# StackMix-HTR\nHandwritten text recognition (ResNet-BiLSTM-CTC) and StackMix line generation.")
        with gr.Tab("Read"):
            with gr.Row():
                with gr.Column():
                    image = reports_unreadable_uploads(
                        gr.Image(
                            type="filepath", image_mode=None, label="Line image, or page image", elem_id="read-image"
                        )
                    )
                    layout = gr.File(
                        file_types=[".xml"],
                        type="filepath",
                        label="PAGE-XML or ALTO file (for a page)",
                        height=120,
                        elem_id="read-layout",
                    )
                    decoder = gr.Radio(decoders, value=processor.decoder, label="Decoder", elem_id="read-decoder")
                    with gr.Row(visible=demo.beam_note is None):
                        beam_width = gr.Slider(1, 64, value=processor.beam_width, step=1, label="Beam width")
                        settings = processor.lm_settings
                        alpha = gr.Number(
                            settings.alpha if settings else 0.0, label="LM weight (alpha)", visible=settings is not None
                        )
                        beta = gr.Number(
                            settings.beta if settings else 0.0, label="Word bonus (beta)", visible=settings is not None
                        )
                    if demo.beam_note:
                        gr.Markdown(f"Beam search is not available: {demo.beam_note}")
                    read_button = gr.Button("Read", variant="primary", elem_id="read-button")
                with gr.Column():
                    text = gr.Textbox(label="Text", lines=3, interactive=False, elem_id="read-text")
                    score = gr.Number(
                        label="Score (mean character confidence)", interactive=False, elem_id="read-score"
                    )
                    info = gr.Markdown(elem_id="read-info")
            lines = gr.Image(
                label="Characters shaded by confidence (red: unsure, green: sure)",
                format="png",
                interactive=False,
                elem_id="read-lines",
            )
            spans = gr.Dataframe(
                headers=SPAN_COLUMNS, label="Character spans (original image columns)", interactive=False
            )
            if demo.line_examples:
                gr.Examples(demo.line_examples, [image, layout], label="Examples")
            read_button.click(
                lambda *inputs: read(demo, *inputs),
                [image, layout, decoder, beam_width, alpha, beta],
                [text, score, lines, spans, info],
            )
        with gr.Tab("Write"):
            if demo.generator is None:
                gr.Markdown(
                    "Start the demo with `--bank BANK` (a StackMix token bank) to write texts in the manuscript's hand."
                )
            else:
                characters = "".join(sorted(demo.generator.characters))
                gr.Markdown(f"The bank writes these characters: `{characters}`")
                with gr.Row():
                    with gr.Column():
                        to_write = gr.Textbox(label="Text", elem_id="write-text")
                        with gr.Row():
                            seed = gr.Number(0, precision=0, label="Seed", elem_id="write-seed")
                            randomize = gr.Checkbox(True, label="New seed each time")
                        write_button = gr.Button("Write", variant="primary", elem_id="write-button")
                    with gr.Column():
                        written = gr.Image(
                            label="Handwritten line",
                            type="numpy",
                            format="png",
                            interactive=False,
                            elem_id="write-image",
                        )
                        note = gr.Markdown(elem_id="write-note")
                if demo.text_examples:
                    gr.Examples(
                        [[example] for example in demo.text_examples], [to_write], label="Texts of the manuscript"
                    )
                write_button.click(
                    lambda *inputs: write(demo, *inputs), [to_write, seed, randomize], [written, seed, note]
                )
    return page


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stackmix-demo-") as examples_folder:
        demo = build_demo(args, Path(examples_folder))
        page = build_page(demo)
        page.queue().launch(
            server_name=args.server_name,
            server_port=args.server_port,
            prevent_thread_lock=True,
            quiet=True,
            show_error=True,
        )
        print(f"Running on local URL: {page.local_url}", flush=True)
        try:
            page.block_thread()
        finally:
            page.close()


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
