"""What a run records about the machine it ran on: the CPU, and the trainer's memory."""

from __future__ import annotations

import subprocess
import sys

import torch

from agents.machine import describe

GROW = """
import torch
from agents.machine import peak_rss_gb
before = peak_rss_gb()
held = torch.ones(3 * 2**27)  # 1.5 GiB, written
after = peak_rss_gb()
del held
print(before, after, peak_rss_gb())
"""


def test_the_description_names_the_cores_and_the_cpu_capability() -> None:
    text = describe()
    assert " cores, " in text and torch.backends.cpu.get_cpu_capability() in text
    assert text.endswith("native bfloat16")


def test_the_peak_memory_is_in_gib_and_keeps_its_peak() -> None:
    # a fresh process, so the peak starts at what importing torch takes; started by a parent holding
    # 1.5 GiB, whose peak must not be counted as the child's
    parent_holds = torch.ones(3 * 2**27)
    out = subprocess.run([sys.executable, "-c", GROW], capture_output=True, text=True, check=True).stdout
    del parent_holds
    before, after, freed = map(float, out.split())
    assert 0.05 < before < 2  # importing torch takes hundreds of MiB: the unit is GiB, not KiB or bytes
    assert 1.5 < after < before + 1.6  # the tensor on top of what the process holds (at most its peak)
    assert abs(freed - after) < 0.05  # a peak, not the current size (which fell by 1.5 GiB)
