"""experiments/stackmix_fidelity.py keeps each row in its record: a later run with another aligner (a taller
one) adds rows to the same table, and a run with another reader or seed is refused."""

import json
import subprocess
import sys

import torch
from support.banks import write_dataset
from support.training import REPO_ROOT, training_env

import modeling_stackmix_htr as htr

TEXTS = ["ab ba", "abc", "ca b", "bc a", "cab ab"]


def save_tiny_model(folder, image_height):
    processor = htr.StackMixHTRProcessor.from_texts(TEXTS, image_height=image_height, max_width=512)
    config = htr.StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size, image_height=image_height)
    torch.manual_seed(0)
    htr.StackMixHTRForCTC(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def run_bench(*options):
    command = [sys.executable, "-m", "experiments.stackmix_fidelity", *map(str, options)]
    return subprocess.run(command, cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300)


def table_rows(results):
    return [
        line.split(" | ") for line in results.read_text().splitlines() if line.startswith("| ") and "---" not in line
    ]


def test_rows_of_a_taller_aligner_join_the_table(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", TEXTS)
    reader = save_tiny_model(tmp_path / "reader", 32)
    taller = save_tiny_model(tmp_path / "taller", 64)
    results, work = tmp_path / "RESULTS.md", tmp_path / "work"
    common = ["--model", reader, "--dataset", dataset, "--split", "train", "--work_dir", work, "--results", results]

    first = run_bench(*common, "--options", "forced-midpoint-nominal", "forced-ink-measured")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_bench(*common, "--aligner", taller, "--options", "forced-ink-measured")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    record = json.loads((work / "fidelity_record.json").read_text())
    assert list(record["rows"]) == [
        "forced-midpoint-nominal",
        "forced-ink-measured",
        "forced-ink-measured, aligned at 64 px",
    ]
    assert [row["aligner_height"] for row in record["rows"].values()] == [32, 32, 64]
    rows = table_rows(results)
    assert [row[0][2:] for row in rows[1:]] == list(record["rows"])  # the header, then every row in order
    taller_row = rows[-1]
    assert taller_row[1] == f"`{taller}` (64 px)" and taller_row[2] != "nominal"  # its own measured mapping
    stored = record["rows"]["forced-ink-measured, aligned at 64 px"]
    assert taller_row[-1] == f"**{stored['generated_cer'] / stored['real_cer']:.2f}** |"
    assert results.read_text().count("- `python -m experiments.stackmix_fidelity") == 2  # both commands listed
    assert (work / "worst_forced-ink-measured-alignedat64px.png").is_file()

    refused = run_bench(*common, "--seed", "1", "--options", "forced-ink-measured")
    assert refused.returncode != 0 and "holds runs with another budget" in refused.stderr
