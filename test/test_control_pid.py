"""PID: ORION tick semantics, explicit dt, windup bounds."""
import math

import numpy as np
import pytest

from orion_lite_ros.control.pid import PID, PIDConfig


def _orion_reference(errors, kp, ki, kd, n):
    """TCP/TransFuser PID as ORION uses it: zero-filled window, per-tick terms."""
    window = [0.0] * n
    out = []
    for e in errors:
        window = (window + [e])[-n:]
        out.append(kp * e + ki * np.mean(window) + kd * (window[-1] - window[-2]))
    return out


def test_matches_orion_at_the_tick():
    errors = np.sin(np.linspace(0, 6, 100))
    pid = PID(PIDConfig(1.1, 0.5, 0.4, window=40, tick_s=0.05))
    ours = [pid.update(e, 0.05) for e in errors]
    np.testing.assert_allclose(ours, _orion_reference(errors, 1.1, 0.5, 0.4, 40), atol=1e-12)


def test_integral_bounded_by_window_and_clamp():
    pid = PID(PIDConfig(0.0, 1.0, 0.0, window=10))
    for _ in range(10_000):
        out = pid.update(2.0, 0.05)
    assert out == pytest.approx(2.0)            # window mean of a constant error, no windup
    clamped = PID(PIDConfig(0.0, 1.0, 0.0, window=0, integral_limit=3.0))
    for _ in range(1000):
        out = clamped.update(2.0, 0.05)
    assert out == pytest.approx(3.0)
    assert clamped.update(-1.0, 0.05) == pytest.approx(2.0)   # unwinds at once from the clamp


def test_dt_scaling_and_zero_dt():
    slow = PID(PIDConfig(0.0, 0.0, 1.0, tick_s=0.05))
    slow.update(0.0, 0.1)
    assert slow.update(1.0, 0.1) == pytest.approx(0.5)      # half the per-tick derivative
    before = slow.update(1.0, 0.0)
    assert before == slow.update(1.0, 0.0)                  # same instant: no state change


def test_reset_and_bad_input():
    pid = PID(PIDConfig(1.0, 1.0, 1.0))
    pid.update(5.0, 0.05)
    pid.reset()
    assert pid.integral == 0.0 and pid.derivative == 0.0
    with pytest.raises(ValueError):
        pid.update(math.nan, 0.05)
    with pytest.raises(ValueError):
        PIDConfig(1.0, window=-1)
