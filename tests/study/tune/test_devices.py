"""Ray's per-trial resources -> torch threads, device and GPU-seconds."""

from __future__ import annotations

import pytest
import torch

from study.tune.devices import gpu_seconds, num_threads, trial_device


def test_threads_round_down_to_at_least_one():
    assert [num_threads(c) for c in (0.5, 1.0, 1.9, 4.0)] == [1, 1, 1, 4]


def test_no_gpu_share_means_cpu_and_no_gpu_seconds():
    device = trial_device(0.0)
    assert device == torch.device("cpu")
    assert gpu_seconds(device, 0.5, 10.0) == 0.0


def test_gpu_seconds_charge_the_share():
    assert gpu_seconds(torch.device("cuda", 0), 0.25, 8.0) == 2.0
    assert gpu_seconds(torch.device("cuda", 0), 2.0, 8.0) == 8.0  # one process drives one device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fractional_gpu_caps_the_memory_share():
    device = trial_device(0.5)
    total = torch.cuda.get_device_properties(device).total_memory
    assert device.type == "cuda"
    with pytest.raises(torch.cuda.OutOfMemoryError):
        torch.empty(int(total * 0.6), dtype=torch.uint8, device=device)
