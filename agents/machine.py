"""The machine a run or benchmark ran on, recorded beside its figures: the same command runs at very
different speeds on a CPU with AVX-512 and native bfloat16 (where vLLM computes in bfloat16) and on
one with AVX2 only (bfloat16 emulated, so vLLM computes in float32); a wall time means little
without the CPU that produced it."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import torch

from agents.generation.backends.vllm import cpu_has_bf16


def describe() -> str:
    """``AMD EPYC, 2 cores, AVX2, no native bfloat16``."""
    cpuinfo = Path("/proc/cpuinfo")
    name = "unknown CPU"
    if cpuinfo.is_file():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), name)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = "native bfloat16" if cpu_has_bf16() else "no native bfloat16"
    return f"{name}, {cores} cores, {capability}, {bf16}"


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GiB: recorded every iteration, so growth over a
    long run shows before it runs out of memory.

    Linux's ``VmHWM`` rather than ``getrusage``: ``ru_maxrss`` survives fork and exec, so a trainer
    started by a large parent (``agents.compare``, pytest) would report the parent's peak as its own."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.is_file() else []
    hwm = next((line for line in lines if line.startswith("VmHWM:")), None)
    if hwm is not None:
        return int(hwm.split()[1]) / 2**20  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20
