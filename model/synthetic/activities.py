"""Catalogue of synthetic activities: phase-coupled joint-angle trajectories, degrees.

Each activity maps frame times t [T] seconds, a stature (metres) and a random generator to a
:class:`Motion`; every sequence draws its own frequencies, amplitudes and phases. Gait follows
the textbook sagittal-plane curves (Winter 2009): hip flexion ~ cosine of the gait phase, knee
flexion with a loading bump after heel strike and a swing peak at ~70% of the cycle, arms
swinging against the ipsilateral leg.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.synthetic.motion import LIMITS_DEG, Motion

Activity = Callable[[np.ndarray, float, np.random.Generator], Motion]


def smooth_noise(t: np.ndarray, rng: np.random.Generator, amplitude: float, max_hz: float = 0.5) -> np.ndarray:
    """[T] sum of four random low-frequency sinusoids (<= max_hz), std ~ amplitude."""
    freq = rng.uniform(0.05, max_hz, 4)
    phase = rng.uniform(0, 2 * np.pi, 4)
    weight = rng.uniform(0.5, 1.0, 4)
    weight *= amplitude * np.sqrt(2.0) / np.linalg.norm(weight)
    return (weight * np.sin(2 * np.pi * freq * t[:, None] + phase)).sum(-1)


def bump(phase: np.ndarray, centre: float, kappa: float) -> np.ndarray:
    """Periodic bump (von Mises shape) in [0, 1] peaking at cycle fraction centre."""
    return np.exp(kappa * (np.cos(phase - 2 * np.pi * centre) - 1.0))


def plateaus(t: np.ndarray, period_s: float, rng: np.random.Generator, sharpness: float = 4.0) -> np.ndarray:
    """[T] smooth square wave in [0, 1]: holds at 0 and 1, smooth transitions (random phase)."""
    x = np.sin(2 * np.pi * t / period_s + rng.uniform(0, 2 * np.pi))
    return 1.0 / (1.0 + np.exp(-sharpness * x))


def _upright(t: np.ndarray, rng: np.random.Generator, sway: float = 1.0) -> dict[str, np.ndarray]:
    """Quiet standing: postural sway, weight shifts, relaxed arms, looking around."""
    shift = smooth_noise(t, rng, 2.5 * sway, 0.25)  # weight shift, degrees
    a = {
        "pelvis_roll": shift,
        "r_hip_abd": 3 + shift,
        "l_hip_abd": 3 - shift,
        "spine_flex": 3 + smooth_noise(t, rng, 1.5 * sway, 0.3),
        "neck_twist": smooth_noise(t, rng, 15 * sway, 0.2),
        "neck_flex": 5 + smooth_noise(t, rng, 5 * sway, 0.2),
    }
    for side in "rl":
        a[f"{side}_hip_flex"] = 2 + smooth_noise(t, rng, 2 * sway)
        a[f"{side}_knee_flex"] = 4 + np.abs(smooth_noise(t, rng, 3 * sway))
        a[f"{side}_shoulder_flex"] = 3 + smooth_noise(t, rng, 4 * sway)
        a[f"{side}_shoulder_abd"] = 7 + smooth_noise(t, rng, 2 * sway)
        a[f"{side}_elbow_flex"] = 12 + np.abs(smooth_noise(t, rng, 6 * sway))
    return a


def _gait(
    t: np.ndarray,
    rng: np.random.Generator,
    cadence_hz: float,
    hip_amp: float,
    knee_swing: float,
    arm_amp: float,
    elbow: float,
) -> dict[str, np.ndarray]:
    """Walking/running joint angles: opposite arm-leg swing, knee flexion in the swing phase."""
    phase = 2 * np.pi * cadence_hz * t + rng.uniform(0, 2 * np.pi)
    a: dict[str, np.ndarray] = {}
    for side, phi in (("r", phase), ("l", phase + np.pi)):
        a[f"{side}_hip_flex"] = 0.4 * hip_amp + hip_amp * np.cos(phi)
        a[f"{side}_hip_abd"] = 2 + 2 * np.cos(phi + 0.5)
        a[f"{side}_knee_flex"] = 5 + 0.25 * knee_swing * bump(phi, 0.12, 8) + knee_swing * bump(phi, 0.70, 5)
        a[f"{side}_shoulder_flex"] = 0.3 * arm_amp - arm_amp * np.cos(phi)  # swings with the other leg
        a[f"{side}_shoulder_abd"] = np.full_like(t, 8.0)
        a[f"{side}_elbow_flex"] = elbow + 0.5 * arm_amp * (1 - np.cos(phi))
    a["spine_twist"] = 0.3 * hip_amp * np.cos(phase)  # pelvis rotates with the legs
    a["thorax_twist"] = -0.3 * hip_amp * np.cos(phase)  # shoulders counter-rotate
    a["pelvis_roll"] = 3 * np.sin(phase)
    return a


def _locomotion(t: np.ndarray, height_m: float, rng: np.random.Generator, running: bool) -> Motion:
    """Walking (running=False) or jogging along a circle of random radius and direction."""
    if running:
        cadence = rng.uniform(1.3, 1.5)
        a = _gait(t, rng, cadence, rng.uniform(24, 30), rng.uniform(75, 90), rng.uniform(20, 30), 80.0)
        stride_m, lean, radius = 1.0 * height_m, 10.0, rng.uniform(1.4, 1.6)
    else:
        cadence = rng.uniform(0.85, 1.0)
        a = _gait(t, rng, cadence, rng.uniform(18, 24), rng.uniform(50, 60), rng.uniform(10, 18), 12.0)
        stride_m, lean, radius = 0.8 * height_m, 3.0, rng.uniform(1.1, 1.5)
    a["spine_flex"] = lean + smooth_noise(t, rng, 1.5)
    a["neck_flex"] = -0.5 * lean + smooth_noise(t, rng, 4, 0.3)
    a["neck_twist"] = smooth_noise(t, rng, 8, 0.2)
    speed = stride_m * cadence * (1 + smooth_noise(t, rng, 0.05, 0.2))
    yaw = np.degrees(np.cumsum(speed / radius) * (t[1] - t[0] if len(t) > 1 else 0.0))
    return Motion(a, rng.choice([-1.0, 1.0]) * yaw, speed, radius)


def walking(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Walking in circles (Winter gait curves)."""
    return _locomotion(t, height_m, rng, running=False)


def jogging(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Jogging in wider circles: higher cadence, deeper knee swing, flexed elbows."""
    return _locomotion(t, height_m, rng, running=True)


def _stationary(a: dict[str, np.ndarray], t: np.ndarray, yaw_deg: np.ndarray | None = None) -> Motion:
    return Motion(a, np.zeros_like(t) if yaw_deg is None else yaw_deg, np.zeros_like(t))


def standing(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Idle standing with sway, weight shifts and glances around."""
    return _stationary(_upright(t, rng, sway=1.5), t, smooth_noise(t, rng, 10, 0.1))


def turning(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Turning on the spot, back and forth, with small stepping."""
    a = _upright(t, rng)
    step = 2 * np.pi * rng.uniform(1.4, 1.8) * t
    for side, phi in (("r", step), ("l", step + np.pi)):
        lift = np.clip(np.sin(phi), 0, None)
        a[f"{side}_hip_flex"] = a[f"{side}_hip_flex"] + 20 * lift
        a[f"{side}_knee_flex"] = a[f"{side}_knee_flex"] + 35 * lift
    direction = 2 * plateaus(t, rng.uniform(5, 8), rng) - 1
    yaw_rate = rng.uniform(60, 100) * direction  # degrees per second
    return _stationary(a, t, np.cumsum(yaw_rate) * (t[1] - t[0] if len(t) > 1 else 0.0))


def sitting(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Sitting down on a chair, staying, standing up again (trunk leans forward in transitions)."""
    a = _upright(t, rng, sway=0.5)
    s = plateaus(t, rng.uniform(6, 9), rng)
    lean = 35 * np.abs(np.gradient(s, t)) / max(np.abs(np.gradient(s, t)).max(), 1e-9)
    a["pelvis_tilt"] = lean + 5 * s
    for side in "rl":
        a[f"{side}_hip_flex"] = a[f"{side}_hip_flex"] + 90 * s + a["pelvis_tilt"]
        a[f"{side}_knee_flex"] = a[f"{side}_knee_flex"] + 95 * s
        a[f"{side}_shoulder_flex"] = a[f"{side}_shoulder_flex"] + 30 * s + a["pelvis_tilt"]
        a[f"{side}_elbow_flex"] = a[f"{side}_elbow_flex"] + 45 * s
    return _stationary(a, t, smooth_noise(t, rng, 5, 0.1))


def squatting(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Repeated deep squats, arms raised forward for balance."""
    a = _upright(t, rng, sway=0.5)
    s = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.25, 0.4) * t + rng.uniform(0, 2 * np.pi))
    depth = rng.uniform(0.7, 1.0)
    a["pelvis_tilt"] = 30 * depth * s
    for side in "rl":
        a[f"{side}_hip_flex"] = a[f"{side}_hip_flex"] + (85 * s + 30 * s) * depth
        a[f"{side}_knee_flex"] = a[f"{side}_knee_flex"] + 120 * depth * s
        a[f"{side}_shoulder_flex"] = a[f"{side}_shoulder_flex"] + 70 * s
    return _stationary(a, t)


def waving(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Raising one arm and waving the forearm (elbow oscillation), then lowering it; sides alternate."""
    a = _upright(t, rng)
    period_s, phase = rng.uniform(5, 7), rng.uniform(0, 2 * np.pi)
    raised = 1.0 / (1.0 + np.exp(-5 * np.sin(2 * np.pi * t / period_s + phase)))
    wave = np.sin(2 * np.pi * rng.uniform(1.8, 2.6) * t)
    # the arm changes side only while lowered (cycle boundary at the sine's minimum)
    cycle = np.floor((2 * np.pi * t / period_s + phase + np.pi / 2) / (2 * np.pi)).astype(int)
    right = (cycle + rng.integers(2)) % 2 == 0
    for side, active in (("r", right), ("l", ~right)):
        up = raised * active
        a[f"{side}_shoulder_abd"] = a[f"{side}_shoulder_abd"] + 95 * up
        a[f"{side}_shoulder_rot"] = -80 * up  # external rotation: the forearm points up
        a[f"{side}_elbow_flex"] = a[f"{side}_elbow_flex"] + up * (70 + 30 * wave)
    a["spine_lat"] = 3 * (raised * right - raised * ~right)
    return _stationary(a, t, smooth_noise(t, rng, 8, 0.1))


def bending(t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """Bending forward at the hips to reach down (picking something up) and straightening."""
    a = _upright(t, rng, sway=0.5)
    b = plateaus(t, rng.uniform(5, 8), rng) * rng.uniform(0.7, 1.0)
    a["pelvis_tilt"] = 55 * b
    a["spine_flex"] = a["spine_flex"] + 20 * b
    a["thorax_flex"] = 10 * b
    a["neck_flex"] = a["neck_flex"] - 25 * b  # keeps looking ahead-down
    for side in "rl":
        a[f"{side}_knee_flex"] = a[f"{side}_knee_flex"] + 20 * b
        a[f"{side}_hip_flex"] = a[f"{side}_hip_flex"] + 55 * b + 10 * b
        a[f"{side}_shoulder_flex"] = a[f"{side}_shoulder_flex"] + 90 * b  # arms reach to the floor
    return _stationary(a, t, smooth_noise(t, rng, 5, 0.1))


ACTIVITIES: dict[str, Activity] = {
    "Walking": walking,
    "Jogging": jogging,
    "Standing": standing,
    "Turning": turning,
    "Sitting": sitting,
    "Squatting": squatting,
    "Waving": waving,
    "Bending": bending,
}


def perform(name: str, t: np.ndarray, height_m: float, rng: np.random.Generator) -> Motion:
    """The named activity over times t, with ~2 degrees of smooth noise on every joint angle."""
    motion = ACTIVITIES[name](t, height_m, rng)
    angles = {k: motion.angles_deg.get(k, 0.0) + smooth_noise(t, rng, 2.0, 0.8) for k in LIMITS_DEG}
    return Motion(angles, motion.yaw_deg, motion.speed_m_s, motion.turn_radius_m)
