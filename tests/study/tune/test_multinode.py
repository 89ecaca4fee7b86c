"""A study on a two-node Ray cluster (two raylets on this machine): trials land on both nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

pytestmark = pytest.mark.slow


def token_env() -> dict[str, str]:
    """This process's environment (POSEDIFF_CACHE included) with Ray's token authentication on.

    `ray start` turns token authentication on; clients that connect by address must opt in too.
    """
    return {**os.environ, "RAY_AUTH_MODE": "token"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(*args: str) -> subprocess.Popen:
    """`ray start --block ...` in its own process group, so the test stops exactly the nodes it started.

    (``ray stop --force`` would also kill every other Ray on a shared machine.)
    """
    return subprocess.Popen(
        ["ray", "start", "--block", "--num-cpus", "1", "--disable-usage-stats", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=token_env(),
    )


def wait_for_nodes(address: str, count: int, timeout_s: float = 180) -> None:
    """Block until the cluster at ``address`` has ``count`` live nodes."""
    probe = (
        "import ray, sys, time\nray.init(address=sys.argv[1], logging_level='ERROR')\n"
        "sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= int(sys.argv[2]) else 1)"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        probe_run = subprocess.run(
            [sys.executable, "-c", probe, address, str(count)], capture_output=True, env=token_env()
        )
        if probe_run.returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(f"cluster at {address} never had {count} nodes")


@pytest.fixture
def two_node_cluster(posediff_cache: Path):
    """A head node (1 CPU, resource 'head') and a second raylet (1 CPU, 'worker2') on 127.0.0.1."""
    assert not ray.is_initialized()
    address = f"127.0.0.1:{free_port()}"
    nodes = [
        start_node("--head", "--port", address.split(":")[1], "--include-dashboard=false", "--resources", '{"head": 1}')
    ]
    try:
        wait_for_nodes(address, 1)
        nodes.append(start_node("--address", address, "--resources", '{"worker2": 1}'))
        wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=10)  # a graceful `ray start --block` exit takes ~30 s on 2 cores
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def test_study_places_trials_on_both_nodes(two_node_cluster: str, tiny_spec, study_check, tmp_path: Path):
    spec_file, out, shared = tiny_spec(name="cluster", pruner={"name": "none"}), tmp_path / "run", tmp_path / "shared"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "study",
            "run",
            "--space",
            str(spec_file),
            "--out",
            str(out),
            "--address",
            two_node_cluster,
            "--storage-path",
            str(shared),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=token_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _, rows, _ = study_check(out, "cluster")
    assert all(r["status"] == "complete" for r in rows)
    node_ids = {r["node"].split("/")[1] for r in rows}
    assert len(node_ids) == 2, node_ids
    assert any(p.name.startswith("cluster-") for p in shared.iterdir())  # Ray's experiment on shared storage
