"""The two training defaults that depart from the paper's recipe: the initial output-layer bias (a
blank bias, or every class at the log of its share of frames) and gradient clipping."""

import math

import pytest
import torch

from modeling_stackmix_htr import StackMixHTRProcessor
from stackmix_htr.training.output_layer import initial_output_bias, parse_blank_bias


def test_a_number_sets_only_the_blank():
    processor = StackMixHTRProcessor.from_texts(["ab"])
    bias = initial_output_bias(-3.0, processor, ["ab"], ["x"], [10])
    assert bias[processor.blank_id] == -3.0 and bias.abs().sum() == 3.0


def test_prior_is_the_log_share_of_the_training_frames():
    processor = StackMixHTRProcessor.from_texts(["aab", "b c"], text_rules="bentham")
    vocab = processor.tokenizer.get_vocab()
    # 6 characters ("aab", then "b c" with its space) over 10 + 10 frames: the blank takes 14.
    bias = initial_output_bias("prior", processor, ["aab", "b  c"], ["1", "2"], [10, 10])
    expected = {"<pad>": 14, "a": 2, "b": 2, " ": 1, "c": 1, "<unk>": 1}  # <unk> never seen: counted once
    for token, count in expected.items():
        assert bias[vocab[token]].item() == pytest.approx(math.log(count / 20))
    assert torch.softmax(bias, 0)[vocab["<pad>"]] > 0.6


def test_the_flag_takes_a_number_or_prior():
    assert parse_blank_bias("prior") == "prior" and parse_blank_bias("-2.5") == -2.5
    with pytest.raises(Exception, match="a number or 'prior'"):
        parse_blank_bias("high")


def test_a_fresh_model_starts_from_the_prior_and_a_loaded_one_from_its_checkpoint(tmp_path):
    from stackmix_htr.cli.train import parse_args

    common = ["--dataset", str(tmp_path), "--output_dir", str(tmp_path / "run")]
    assert parse_args(common).blank_bias == "prior"
    assert parse_args([*common, "--blank_bias", "0"]).blank_bias == 0.0  # the paper's start
    assert parse_args([*common, "--init_from", str(tmp_path)]).blank_bias is None
    with pytest.raises(SystemExit):
        parse_args([*common, "--init_from", str(tmp_path), "--blank_bias", "prior"])


def test_gradients_are_clipped_to_norm_1_unless_turned_off(tmp_path, capsys):
    from stackmix_htr.cli.train import parse_args

    common = ["--dataset", str(tmp_path), "--output_dir", str(tmp_path / "run")]
    assert parse_args(common).max_grad_norm == 1.0
    assert parse_args([*common, "--max_grad_norm", "0"]).max_grad_norm == 0.0  # the paper's recipe
    with pytest.raises(SystemExit):
        parse_args([*common, "--max_grad_norm", "-1"])  # a negative bound would flip the gradients
    assert "--max_grad_norm must be at least 0" in capsys.readouterr().err
