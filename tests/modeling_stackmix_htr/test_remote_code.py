"""A saved folder must load with trust_remote_code=True where the package cannot be imported."""

import json
import textwrap

import numpy as np
import torch
from PIL import Image
from support.isolation import PROJECT_PACKAGES, run_without
from support.language_models import write_language_model
from support.recognizers import scramble
from transformers import pipeline

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor

CHILD = textwrap.dedent(
    """
    import json
    import sys

    try:
        import modeling_stackmix_htr
    except ImportError:
        pass
    else:
        raise SystemExit("the package was importable")

    import numpy as np
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForCTC, AutoProcessor, pipeline

    model_dir, pipeline_dir, work = sys.argv[1:4]
    expected = json.load(open(f"{work}/expected.json"))
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    assert config.model_type == "stackmix_htr" and config.stage_channels == [8, 16, 32]
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    assert type(processor).__name__ == "StackMixHTRProcessor" and processor.text_rules == "bentham"
    image_processor = AutoImageProcessor.from_pretrained(model_dir, trust_remote_code=True)
    assert type(image_processor).__name__ == "StackMixHTRImageProcessor"

    inputs = processor(images=expected["images"], text=expected["texts"])
    assert np.array_equal(inputs["pixel_values"].numpy(), np.load(f"{work}/pixel_values.npy"))
    assert inputs["labels"].tolist() == expected["labels"]
    for auto_class in (AutoModelForCTC, AutoModel):
        model = auto_class.from_pretrained(model_dir, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        with torch.no_grad():
            output = model(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])
        np.testing.assert_allclose(output.logits.numpy(), np.load(f"{work}/logits.npy"), atol=1e-6, rtol=1e-6)
    assert processor.batch_decode(output.logits, output_lengths=output.output_lengths) == expected["decoded"]
    assert processor.has_language_model and processor.lm_settings.alpha == 2.0
    beam = processor.batch_decode(output.logits, output_lengths=output.output_lengths, decoder="beam", beam_width=3)
    assert beam == expected["beam"]

    recognizer = pipeline(model=pipeline_dir, trust_remote_code=True)
    assert type(recognizer).__name__ == "HandwritingRecognitionPipeline"
    results = recognizer(expected["images"])
    assert [r["text"] for r in results] == [r["text"] for r in expected["pipeline"]]
    assert [r["text"] for r in recognizer(expected["images"], decoder="beam", beam_width=3)] == expected["beam"]
    np.testing.assert_allclose([r["score"] for r in results], [r["score"] for r in expected["pipeline"]], atol=1e-6)

    # A checkpoint folder as training writes it (the model's save_pretrained) serves the pipeline too.
    recognizer = pipeline("handwriting-recognition", model=model_dir, trust_remote_code=True)
    assert type(recognizer).__module__.startswith("transformers_modules."), type(recognizer).__module__
    batched = recognizer(expected["images"] * 2, batch_size=3)
    assert [r["text"] for r in batched] == [r["text"] for r in expected["pipeline"]] * 2
    assert recognizer([]) == []
    assert not any(name.split(".")[0] == "modeling_stackmix_htr" for name in sys.modules)
    print("remote code OK")
    """
)


def test_saved_folder_loads_with_trust_remote_code_without_the_package(tmp_path):
    texts = ["Abc , de", "ed cba"]
    processor = StackMixHTRProcessor.from_texts(texts, text_rules="bentham", image_height=32, max_width=256)
    torch.manual_seed(0)
    model = scramble(StackMixHTRForCTC(StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size)))
    model_dir, pipeline_dir, work = tmp_path / "model", tmp_path / "pipeline", tmp_path / "work"
    work.mkdir()
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    write_language_model(model_dir / "language_model", ["Abc, de", "ed cba"], alpha=2.0)
    processor = StackMixHTRProcessor.from_pretrained(model_dir)
    for module in ("modeling", "configuration", "processing", "image_processing"):
        assert (model_dir / f"{module}_stackmix_htr.py").is_file()
    assert (model_dir / "text_rules.py").is_file() and (model_dir / "ctc_beam_search.py").is_file()

    rng = np.random.default_rng(0)
    images = []
    for index, width in enumerate((70, 180)):
        path = work / f"line{index}.png"
        Image.fromarray(rng.integers(0, 256, (30, width), dtype=np.uint8)).save(path)
        images.append(str(path))
    inputs = processor(images=images, text=texts)
    with torch.no_grad():
        output = model(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])
    np.save(work / "pixel_values.npy", inputs["pixel_values"].numpy())
    np.save(work / "logits.npy", output.logits.numpy())

    recognizer = pipeline("handwriting-recognition", model=str(model_dir))
    recognizer.save_pretrained(pipeline_dir)
    assert (pipeline_dir / "pipeline_stackmix_htr.py").is_file()
    expected = {
        "images": images,
        "texts": texts,
        "labels": inputs["labels"].tolist(),
        "decoded": processor.batch_decode(output.logits, output_lengths=output.output_lengths),
        "beam": processor.batch_decode(
            output.logits, output_lengths=output.output_lengths, decoder="beam", beam_width=3
        ),
        "pipeline": recognizer(images),
    }
    assert len({result["text"] for result in expected["pipeline"]}) == 2  # the two lines read differently
    (work / "expected.json").write_text(json.dumps(expected))

    completed = run_without(
        PROJECT_PACKAGES,
        CHILD,
        model_dir,
        pipeline_dir,
        work,
        cwd=tmp_path,
        env_extra={"HF_MODULES_CACHE": str(tmp_path / "modules")},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "remote code OK" in completed.stdout
