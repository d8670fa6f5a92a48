"""keep_large_blocks_in_heap: a training step reuses the pages of the step before instead of faulting in
fresh ones, and an allocator the environment chose is left alone."""

import json
import os
import subprocess
import sys

import pytest

from stackmix_htr.common.allocator import runs_on_glibc, sets_the_allocator

pytestmark = pytest.mark.skipif(not runs_on_glibc(), reason="glibc's mallopt is Linux-only")

# A child process (its allocator state is its own) runs three training steps of a convolution whose
# activations (64 MiB) lie above glibc's largest mmap threshold, after a first step, and prints what
# the setup said and the page faults of the three.
CHILD = """
import json, resource, sys
import torch
from stackmix_htr.common.allocator import keep_large_blocks_in_heap

said = keep_large_blocks_in_heap() if sys.argv[1] == "tuned" else "untouched"
torch.manual_seed(0)
torch.set_num_threads(1)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.ReLU())
lines = torch.randn(4, 1, 64, 1024)
model(lines).square().mean().backward()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    model(lines).square().mean().backward()
print(json.dumps({"said": said, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def run_child(mode: str, **env: str) -> dict:
    clean = {key: value for key, value in os.environ.items() if not sets_the_allocator(key)}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env={**clean, **env}
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def default():
    return run_child("default")


def test_freed_large_blocks_are_reused_instead_of_faulted_in_again(default):
    tuned = run_child("tuned")
    assert tuned["said"] == "glibc, large blocks kept in the heap"
    # with glibc's defaults each step's activations are mapped anew: every page of each faults
    assert default["faults"] > 3 * 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert tuned["faults"] < default["faults"] / 4


def test_an_allocator_chosen_by_the_environment_is_left_alone(default):
    chosen = run_child("tuned", GLIBC_TUNABLES="glibc.malloc.mmap_max=65536", MALLOC_ARENA_MAX="2")
    assert (
        chosen["said"] == "as the environment sets it (GLIBC_TUNABLES=glibc.malloc.mmap_max=65536, MALLOC_ARENA_MAX=2)"
    )
    assert chosen["faults"] > default["faults"] / 2
