"""Errors, atomic writes, flag spellings, the Hub-id rule and text files: the floor every other part stands on."""
