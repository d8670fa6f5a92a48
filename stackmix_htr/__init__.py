"""StackMix-HTR's shared library: everything the front doors, the builders, the augmentations and the
experiments stand on, except the model files themselves (`modeling_stackmix_htr`, which checkpoints
carry and which import nothing of this package).

- `common`: errors a user can fix, atomic file writes, flag spellings, the Hub-id rule, text files;
- `page_formats`: PAGE-XML and ALTO pages read, cut into lines and written back;
- `recognition`: checkpoints loaded and run over lines, CTC alignment and character spans,
  run-time and decoding options, the language model's build and tuning, ONNX export;
- `training`: what the training front door wires together;
- `metrics`: local `evaluate` modules (CER, WER, string accuracy);
- `cli`: the front doors behind the console scripts and the top-level scripts.
"""
