"""data_builders."""
