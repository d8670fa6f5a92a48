import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoProcessor

from modeling_stackmix_htr import OutOfVocabularyError, StackMixHTRImageProcessor, StackMixHTRProcessor


@pytest.fixture
def image_processor():
    return StackMixHTRImageProcessor(image_height=32, max_width=256)


def test_line_keeps_aspect_ratio_is_centred_left_placed_and_padded_black(image_processor):
    tall = np.full((64, 100), 200, dtype=np.uint8)  # height-bound: scaled by 1/2 -> 32 x 50
    short = np.full((10, 30), 100, dtype=np.uint8)  # fits already: never upscaled
    batch = image_processor([tall, short])
    values, mask = batch["pixel_values"], batch["pixel_mask"]
    assert values.dtype == torch.float32 and mask.dtype == torch.int64
    assert values.shape == (2, 3, 32, 56)  # widest line (50) rounded up to a multiple of 8
    assert mask.sum(-1).tolist() == [50, 30]
    assert torch.all(mask[0, :50] == 1) and torch.all(mask[0, 50:] == 0)
    assert torch.allclose(values[0, :, :, :50], torch.tensor(200 / 255))
    assert torch.all(values[0, :, :, 50:] == 0)
    # The short line sits at the left, on rows 11..20 of a black canvas.
    assert torch.allclose(values[1, :, 11:21, :30], torch.tensor(100 / 255))
    assert values[1].sum() == pytest.approx(3 * 10 * 30 * 100 / 255, rel=1e-5)


def test_wide_line_is_scaled_down_to_max_width(image_processor):
    wide = np.full((20, 512), 255, dtype=np.uint8)  # width-bound: scaled by 1/2 -> 10 x 256
    values = image_processor(wide)["pixel_values"]
    assert values.shape == (1, 3, 32, 256)
    assert torch.all(values[0, :, 11:21] == 1)
    assert torch.all(values[0, :, :11] == 0) and torch.all(values[0, :, 21:] == 0)


def test_channels_are_converted_to_the_configured_count():
    rgb = Image.new("RGB", (40, 20), (255, 0, 0))
    gray = np.full((20, 40), 128, dtype=np.uint8)
    as_gray = StackMixHTRImageProcessor(num_channels=1, image_height=32, max_width=64)([rgb, gray])
    assert as_gray["pixel_values"].shape == (2, 1, 32, 40)
    as_rgb = StackMixHTRImageProcessor(num_channels=3, image_height=32, max_width=64)([gray, np.stack([gray] * 3, -1)])
    assert as_rgb["pixel_values"].shape == (2, 3, 32, 40)
    assert torch.equal(as_rgb["pixel_values"][0], as_rgb["pixel_values"][1])


def test_one_pixel_high_and_huge_images_give_sane_batches(image_processor):
    thin = np.full((1, 300), 255, dtype=np.uint8)
    huge = np.full((100, 20000), 255, dtype=np.uint8)
    batch = image_processor([thin, huge], return_tensors="np")
    values, mask = batch["pixel_values"], batch["pixel_mask"]
    assert values.shape == (2, 3, 32, 256)
    assert np.isfinite(values).all()
    # The 1 x 300 line is only narrowed to max_width; the 100 x 20000 one keeps its ratio (256 x 1).
    assert mask.sum(-1).tolist() == [256, 256]
    assert (values[0].sum(axis=(0, 1)) > 0).all()  # every column holds the line ...
    assert np.flatnonzero(values[0].sum(axis=(0, 2))).tolist() == [15]  # ... on the middle row
    assert (values[1].max(axis=(0, 1)) > 0).all()


def test_bad_inputs_give_clear_errors(image_processor, tmp_path):
    with pytest.raises(ValueError, match=r"image 1: the image is empty \(0x5 pixels\)"):
        image_processor([np.zeros((4, 4), np.uint8), np.zeros((5, 0), np.uint8)])
    with pytest.raises(ValueError, match=r"sample 'b'.*empty"):
        image_processor([np.zeros((4, 4), np.uint8), Image.new("L", (0, 3))], sample_ids=["a", "b"])
    with pytest.raises(TypeError, match="image 0: expected a PIL image, a uint8 numpy array or a file path, got int"):
        image_processor([7])
    with pytest.raises(TypeError, match="uint8"):
        image_processor([np.zeros((4, 4), np.float32)])
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match="broken.png"):
        image_processor([str(corrupt)])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        image_processor([tmp_path / "missing.png"])


def test_file_paths_are_read(image_processor, tmp_path):
    path = tmp_path / "line.png"
    Image.new("L", (64, 16), 255).save(path)
    from_path = image_processor(str(path))
    from_array = image_processor(np.full((16, 64), 255, np.uint8))
    assert torch.equal(from_path["pixel_values"], from_array["pixel_values"])


def test_image_processor_round_trip_through_auto_class(tmp_path):
    processor = StackMixHTRImageProcessor(num_channels=1, image_height=48, max_width=512)
    processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is StackMixHTRImageProcessor
    assert (loaded.num_channels, loaded.image_height, loaded.max_width) == (1, 48, 512)


@pytest.fixture
def processor():
    texts = ["hello world", "Abc, d"]
    return StackMixHTRProcessor.from_texts(texts, text_rules="bentham", image_height=32, max_width=256)


def test_vocabulary_is_blank_then_sorted_characters_then_unk(processor):
    vocab = processor.tokenizer.get_vocab()
    ordered = sorted(vocab, key=vocab.get)
    assert ordered[0] == "<pad>" and processor.blank_id == 0
    assert ordered[1:-1] == sorted(set("hello world") | set("Abc,d"))
    assert ordered[-1] == "<unk>"
    assert processor.vocab_size == len(vocab)


def test_text_becomes_labels_after_text_rules(processor):
    batch = processor(images=[np.zeros((8, 16), np.uint8)] * 2, text=["hello", "Abc , d"])
    vocab = processor.tokenizer.get_vocab()
    labels = batch["labels"]
    assert labels.dtype == torch.int64
    assert labels[0].tolist() == [vocab[c] for c in "hello"] + [-100] * 1
    assert labels[1].tolist() == [vocab[c] for c in "Abc, d"]
    assert processor.decode_labels(labels) == ["hello", "Abc, d"]


def test_out_of_vocabulary_characters_name_the_sample(processor):
    with pytest.raises(OutOfVocabularyError) as error:
        processor.encode_text(["hello", "hex?"], sample_ids=["page-7", "page-8"])
    message = str(error.value)
    assert "page-8" in message and "'x'" in message and "'?'" in message and "page-7" not in message
    assert error.value.characters == ["x", "?"] and isinstance(error.value, ValueError)
    with pytest.raises(OutOfVocabularyError, match="sample 1"):
        processor(text=["hello", "zz"])
    unk = processor.tokenizer.get_vocab()["<unk>"]
    assert processor.encode_text(["hex"], unknown_to_unk=True)[0][2] == unk


def test_greedy_decoding_collapses_repeats_and_drops_blanks(processor):
    vocab = processor.tokenizer.get_vocab()
    h, e, l, o, space = (vocab[c] for c in "helo ")
    frames = [0, h, h, 0, e, l, l, 0, l, o, o, space, space, 0]
    assert processor.batch_decode(torch.tensor([frames])) == ["hello"]
    # Same through logits (one-hot scores), and the per-sample length cuts frames off.
    logits = torch.nn.functional.one_hot(torch.tensor([frames, frames]), processor.vocab_size).float()
    assert processor.batch_decode(logits, output_lengths=torch.tensor([14, 4])) == ["hello", "h"]
    assert processor.batch_decode(np.array([[space, h, 0, space, space, o, space]])) == ["h o"]


def test_greedy_decoding_gives_character_offsets_as_transformers_ctc_tokenizers_do(processor):
    vocab = processor.tokenizer.get_vocab()
    h, e, l, o = (vocab[c] for c in "helo")
    frames = [0, h, h, 0, e, l, l, 0, l, o, o, 0]
    output = processor.batch_decode(torch.tensor([frames]), output_char_offsets=True)
    assert output.text == ["hello"]
    assert output.char_offsets == [
        [
            {"char": "h", "start_offset": 1, "end_offset": 3},
            {"char": "e", "start_offset": 4, "end_offset": 5},
            {"char": "l", "start_offset": 5, "end_offset": 7},
            {"char": "l", "start_offset": 8, "end_offset": 9},
            {"char": "o", "start_offset": 9, "end_offset": 11},
        ]
    ]
    with pytest.raises(ValueError, match="output_char_offsets needs greedy decoding"):
        processor.batch_decode(torch.zeros(1, 3, processor.vocab_size), decoder="beam", output_char_offsets=True)


def test_decoding_applies_text_rules_postprocess(processor):
    vocab = processor.tokenizer.get_vocab()
    ids = [vocab[c] for c in "A"] + [vocab[" "], vocab[","]]
    assert processor.batch_decode([ids]) == ["A,"]


def test_processor_round_trip_restores_text_rules_and_vocabulary(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is StackMixHTRProcessor
    assert loaded.text_rules == "bentham"
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    assert loaded.image_processor.image_height == 32
    images = [np.random.default_rng(0).integers(0, 255, (20, 70), dtype=np.uint8)]
    original, restored = processor(images=images, text=["hello"]), loaded(images=images, text=["hello"])
    for key in ("pixel_values", "pixel_mask", "labels"):
        assert torch.equal(original[key], restored[key])


def test_unknown_text_rules_are_rejected():
    with pytest.raises(ValueError, match="unknown text rules"):
        StackMixHTRProcessor.from_texts(["a"], text_rules="nope")


def test_a_checkpoint_without_its_processor_names_the_missing_file(processor, tmp_path):
    from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC

    StackMixHTRForCTC(StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size)).save_pretrained(tmp_path)
    with pytest.raises(OSError, match=f"{tmp_path} holds no processor \\(processor_config.json is missing\\)"):
        AutoProcessor.from_pretrained(tmp_path)
