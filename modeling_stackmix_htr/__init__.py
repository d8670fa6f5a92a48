"""modeling_stackmix_htr."""
