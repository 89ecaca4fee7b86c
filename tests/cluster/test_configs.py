"""The cluster configs validate against Ray's own cluster-launcher schema (offline)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
LAUNCHER_CONFIGS = ["gpu.yaml", "local.yaml"]
RAY_VERSION = __import__("ray").__version__


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_passes_rays_schema(name: str) -> None:
    config = prepare_config(_load(name))
    validate_config(config)


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_pins_the_drivers_ray_image_and_installs_this_package(name: str) -> None:
    config = _load(name)
    assert config["docker"]["image"].startswith(f"rayproject/ray:{RAY_VERSION}-")
    assert config["docker"]["image"].endswith("-gpu")
    assert any("pip install" in cmd and "posediff-study" in cmd for cmd in config["setup_commands"])
    assert "." in config["file_mounts"].values()  # the driver's own checkout is what gets installed


def test_gpu_config_has_a_trial_free_head_and_gpu_workers() -> None:
    config = _load("gpu.yaml")
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    gpu_counts = sorted(t["resources"]["GPU"] for name, t in types.items() if "GPU" in t["resources"])
    assert gpu_counts[0] == 1 and gpu_counts[-1] > 1  # a 1-GPU and a multi-GPU worker type
    for node_type in types.values():
        assert all(isinstance(v, int) for v in node_type["resources"].values())


def test_schema_rejects_a_fractional_node_resource() -> None:
    """The check is real: Ray's schema refuses what the docs warn about (non-integer resources)."""
    config = _load("gpu.yaml")
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_1x"]["resources"]["GPU"] = 0.5
    with pytest.raises(jsonschema.ValidationError, match="not of type 'integer'"):
        validate_config(prepare_config(broken))


def test_kuberay_manifest_structure() -> None:
    manifest = _load("kuberay.yaml")
    assert manifest["apiVersion"].startswith("ray.io/") and manifest["kind"] == "RayCluster"
    spec = manifest["spec"]
    assert spec["rayVersion"] == RAY_VERSION
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    for pod in pods:
        images = [c["image"] for c in pod["containers"] + pod.get("initContainers", [])]
        assert all(image == f"rayproject/ray:{RAY_VERSION}-py311-gpu" for image in images)
        install = " ".join(" ".join(c.get("args", [])) for c in pod.get("initContainers", []))
        assert "pip install" in install and "posediff-study" in install
    gpus = [
        c["resources"]["limits"].get("nvidia.com/gpu", 0)
        for g in spec["workerGroupSpecs"]
        for c in g["template"]["spec"]["containers"]
    ]
    assert max(gpus) >= 1
