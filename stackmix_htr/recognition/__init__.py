"""Recognising lines with a trained checkpoint: loading it, running it over lines, aligning its
outputs to characters, decoding options, the language model and ONNX export."""
