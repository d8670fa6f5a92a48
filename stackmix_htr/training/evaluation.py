"""Validation and test scoring of a training run: every process decodes its share, the lines are gathered."""

import json
from pathlib import Path

import datasets
import torch
from accelerate.logging import get_logger
from tqdm.auto import tqdm

from modeling_stackmix_htr import StackMixHTRForCTC
from stackmix_htr.common.atomic import write_file_atomic
from stackmix_htr.metrics.scoring import prediction_rows, predictions_csv, score
from stackmix_htr.recognition.batches import forward_batches

logger = get_logger(__name__)


def evaluate(
    model, loader, accelerator, processor, suite, with_loss: bool = True
) -> tuple[dict, list[tuple[str, str, str]]]:
    """Greedy-decode a split on every process and gather the lines (without the padding duplicates).

    Returns:
        metrics (those of METRIC_KEYS scored with `suite`, num_lines, and loss when `with_loss`) and the
        (sample_id, reference, prediction) rows of the whole split, in the loader's order.
    """
    rows = []
    loss_sum = torch.zeros(2, device=accelerator.device)  # sum of batch losses x lines, lines
    batches = tqdm(loader, desc="eval", leave=False, disable=not accelerator.is_local_main_process)
    for batch, outputs in forward_batches(model, batches, autocast=accelerator.autocast):
        if with_loss:
            lines = torch.tensor(float(len(batch["text"])), device=accelerator.device)
            loss_sum += torch.stack([outputs.loss.float() * lines, lines])
        predictions = processor.batch_decode(outputs.logits, output_lengths=outputs.output_lengths)
        rows += accelerator.gather_for_metrics(
            list(zip(batch["sample_id"], batch["text"], predictions)), use_gather_object=True
        )
    references = [reference for _, reference, _ in rows]
    predictions = [prediction for _, _, prediction in rows]
    results = {**score(predictions, references, suite), "num_lines": len(rows)}
    if with_loss:
        total = accelerator.reduce(loss_sum, reduction="sum")
        results["loss"] = (total[0] / total[1].clamp(min=1)).item()
    return results, rows


def write_test_results(rows, split: datasets.Dataset, results: dict, output_dir: Path) -> None:
    """test_predictions.csv (the split's order) and test_results.json, as eval.py writes them for a checkpoint."""
    position = {sample_id: index for index, sample_id in enumerate(split["sample_id"])}
    rows = sorted(rows, key=lambda row: position.get(row[0], len(position)))
    sample_ids, references, predictions = zip(*rows) if rows else ((), (), ())
    table = predictions_csv(prediction_rows(sample_ids, references, predictions))
    write_file_atomic(output_dir / "test_predictions.csv", table.encode("utf-8"))
    write_file_atomic(output_dir / "test_results.json", (json.dumps(results, indent=2) + "\n").encode("utf-8"))


def score_best_checkpoint(accelerator, processor, suite, eval_loaders, eval_splits, output_dir: Path) -> None:
    """Score `best_cer/` on the test split: test_predictions.csv and test_results.json."""
    if "test" not in eval_loaders or not (output_dir / "best_cer").is_dir():
        return
    best = StackMixHTRForCTC.from_pretrained(output_dir / "best_cer").to(accelerator.device)
    test, rows = evaluate(best, eval_loaders["test"], accelerator, processor, suite, with_loss=False)
    if accelerator.is_main_process:
        results = {"checkpoint": str(output_dir / "best_cer"), **test}
        write_test_results(rows, eval_splits["test"], results, output_dir)
        logger.info(
            f"test ({test['num_lines']} lines) with best_cer/: CER {test['cer']:.4f}, WER {test['wer']:.4f}, "
            f"accuracy {test['string_accuracy']:.4f}; predictions in {output_dir / 'test_predictions.csv'}"
        )
