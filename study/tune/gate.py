"""The epoch gate: a trial reports an epoch only with a permit, so a test holds a study where it chooses.

Set ``POSEDIFF_EPOCH_GATE=<folder>`` in the driver's environment (read once, when the trainable is
built, and handed to every trial). Before each ``tune.report`` a trial takes the one permit file
``<folder>/permit`` by an atomic rename to ``<folder>/taken-<epoch>-<trial id>``, or passes freely
once ``<folder>/open`` exists. The test that owns the folder writes a permit, waits until the epoch
it bought is recorded, and so moves the study one report at a time, as fast or slow as the machine
is. Unset (the default), there is no gate. ``POSEDIFF_SAMPLING_GATE`` gates stage 2 the same way: the
driver takes a permit (``taken-<frames>-<network>.<setting number>``) before it records each evaluation.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

GATE_ENV = "POSEDIFF_EPOCH_GATE"
SAMPLING_GATE_ENV = "POSEDIFF_SAMPLING_GATE"  # the same gate before each stage-2 result is recorded
PERMIT = "permit"
OPEN = "open"
TAKEN_PREFIX = "taken-"
# The test's side: how long a gated study may make no progress before a test calls it hung (a guard
# against hanging, not a kill point; 300 s ran out once on 2 cores loaded ~4x, 2026-12-02).
HUNG_S = 900.0


@dataclass(frozen=True)
class EpochGate:
    """A folder of permits; each ``tune.report`` of a trial takes one (see the module docstring)."""

    folder: Path
    poll_s: float = 0.05

    @classmethod
    def from_env(cls, variable: str = GATE_ENV) -> EpochGate | None:
        """The gate named by ``variable`` (``POSEDIFF_EPOCH_GATE``), or None when it is unset or empty."""
        folder = os.environ.get(variable, "")
        return cls(Path(folder)) if folder else None

    def pass_through(self, trial_id: str, epoch: int) -> None:
        """Block until this report of ``trial_id``'s ``epoch`` holds a permit or the gate is open."""
        while not (self.folder / OPEN).exists():
            try:
                os.rename(self.folder / PERMIT, self.folder / f"{TAKEN_PREFIX}{epoch}-{trial_id}")
                return
            except FileNotFoundError:  # no permit now, or another trial took it first
                time.sleep(self.poll_s)

    # The test's side.
    def issue(self) -> None:
        """Offer one permit (the folder must hold none)."""
        (self.folder / PERMIT).touch()

    def open(self) -> None:
        """Let every report through from now on."""
        (self.folder / OPEN).touch()

    def outstanding(self) -> bool:
        """A permit is offered and not taken yet."""
        return (self.folder / PERMIT).exists()

    def taken(self) -> set[tuple[str, int]]:
        """(trial id, epoch) of every report that took a permit."""
        found = set()
        for path in self.folder.glob(f"{TAKEN_PREFIX}*"):
            epoch, trial_id = path.name[len(TAKEN_PREFIX) :].split("-", 1)
            found.add((trial_id, int(epoch)))
        return found
