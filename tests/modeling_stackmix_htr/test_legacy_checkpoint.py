"""A checkpoint saved before the project's reorganisation (tests/support/checkpoint_2026_11_30.zip) still
loads and reads as it did: with the package, with its own remote code and the package out of reach,
as --init_from of a training run, and in transcribe.py."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import REPO_ROOT
from support.isolation import PROJECT_PACKAGES, run_without
from support.training import make_tiny_dataset, run_training, simple_splits, tiny_run
from transformers import AutoModelForCTC, AutoProcessor, pipeline

import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes and the pipeline)
from stackmix_htr.cli import transcribe

FIXTURE = REPO_ROOT / "tests" / "support" / "checkpoint_2026_11_30"
EXPECTED = json.loads(FIXTURE.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("legacy") / "checkpoint"
    with zipfile.ZipFile(FIXTURE.with_suffix(".zip")) as archive:
        archive.extractall(folder)
    return folder


def lines() -> list[np.ndarray]:
    rng = np.random.default_rng(EXPECTED["lines"]["seed"])
    return [
        rng.integers(0, 256, (EXPECTED["lines"]["height"], width), dtype=np.uint8)
        for width in EXPECTED["lines"]["widths"]
    ]


def assert_readings(results: list[dict]) -> None:
    assert [result["text"] for result in results] == [reading["text"] for reading in EXPECTED["readings"]]
    np.testing.assert_allclose(
        [result["score"] for result in results], [reading["score"] for reading in EXPECTED["readings"]], atol=1e-5
    )


def test_it_loads_with_the_package_and_reads_as_it_did(checkpoint):
    model = AutoModelForCTC.from_pretrained(checkpoint)
    processor = AutoProcessor.from_pretrained(checkpoint)
    assert type(model).__module__ == "modeling_stackmix_htr.modeling_stackmix_htr"
    assert_readings(pipeline("handwriting-recognition", model=model, processor=processor, device="cpu")(lines()))


def test_it_loads_with_its_own_code_where_the_package_cannot_be_imported(checkpoint, tmp_path):
    child = """
    import json
    import sys

    import numpy as np
    from transformers import pipeline

    folder, seed, height, widths = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    rng = np.random.default_rng(seed)
    lines = [rng.integers(0, 256, (height, width), dtype=np.uint8) for width in widths]
    recognizer = pipeline("handwriting-recognition", model=folder, trust_remote_code=True, device="cpu")
    assert type(recognizer.model).__module__.startswith("transformers_modules."), type(recognizer.model).__module__
    print(json.dumps(recognizer(lines)))
    """
    shape = EXPECTED["lines"]
    completed = run_without(
        PROJECT_PACKAGES,
        child,
        checkpoint,
        shape["seed"],
        shape["height"],
        json.dumps(shape["widths"]),
        cwd=tmp_path,
        env_extra={"HF_MODULES_CACHE": str(tmp_path / "modules")},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert_readings(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_a_training_run_starts_from_it(checkpoint, tmp_path):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    result = run_training(*tiny_run(dataset, tmp_path / "run", epochs=1, batch_size=4), "--init_from", checkpoint)
    assert result.returncode == 0, result.stdout[-4000:]
    assert (tmp_path / "run" / "best_cer" / "model.safetensors").is_file()


def test_transcribe_reads_lines_with_it(checkpoint, tmp_path):
    folder = tmp_path / "lines"
    folder.mkdir()
    for index, line in enumerate(lines()):
        Image.fromarray(line).save(folder / f"line{index}.png")
    transcribe.main(
        ["--model", str(checkpoint), "--input", str(folder), "--output_dir", str(tmp_path / "out"), "--device", "cpu"]
    )
    texts = [(tmp_path / "out" / f"line{index}.txt").read_text().strip() for index in range(len(EXPECTED["readings"]))]
    assert texts == [reading["text"] for reading in EXPECTED["readings"]]
