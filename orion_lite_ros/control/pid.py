"""PID controller with explicit dt and bounded integral (no ROS, no torch).

ORION's Bench2Drive PID (the TCP/TransFuser one) works in ticks of the 20 Hz leaderboard loop:
its window of ``n`` errors starts filled with zeros, the integral term is the window mean and
the derivative the difference of the last two errors. Here ``dt_s`` is explicit: the integral is
sum(error * dt) over the last ``window`` samples divided by ``window * tick_s`` and the
derivative is de/dt scaled by ``tick_s``, so at ``dt_s == tick_s`` the output is exactly ORION's.
The windowed integral cannot exceed the largest recent error, which bounds it against windup;
``integral_limit`` clamps it further (and freezes the sum in the unbounded ``window=0`` mode).
"""
from collections import deque
from dataclasses import dataclass
import math

from orion_lite_ros.layout import SIM_FIXED_DELTA_S


@dataclass(frozen=True)
class PIDConfig:
    kp: float
    ki: float = 0.0
    kd: float = 0.0
    window: int = 40                     # ticks averaged by the integral term; 0 = unbounded sum
    integral_limit: float = math.inf     # |integral| clamp (error units)
    tick_s: float = SIM_FIXED_DELTA_S    # the tick the gains were tuned at (ORION: 20 Hz)

    def __post_init__(self):
        if self.window < 0:
            raise ValueError(f'window must be >= 0, got {self.window}')
        if not self.integral_limit > 0:
            raise ValueError(f'integral_limit must be > 0, got {self.integral_limit}')
        if not self.tick_s > 0:
            raise ValueError(f'tick_s must be > 0, got {self.tick_s}')


class PID:
    """``update(error, dt_s) -> output``. ``dt_s <= 0`` (a second query at the same instant)
    reuses the last integral and derivative and does not change the state."""

    def __init__(self, config: PIDConfig):
        self.config = config
        self._errors = deque(maxlen=config.window or None)   # (error, dt_s) pairs
        self.reset()

    def reset(self) -> None:
        self._errors.clear()
        self._sum = 0.0                                      # unbounded mode only
        self._prev_error = 0.0
        self.integral = 0.0
        self.derivative = 0.0

    def update(self, error: float, dt_s: float) -> float:
        error = float(error)
        if not math.isfinite(error):
            raise ValueError(f'PID error must be finite, got {error}')
        cfg = self.config
        if math.isfinite(dt_s) and dt_s > 0:
            self._advance(error, float(dt_s))
        return cfg.kp * error + cfg.ki * self.integral + cfg.kd * self.derivative

    def _advance(self, error: float, dt_s: float) -> None:
        cfg = self.config
        if cfg.window:
            self._errors.append((error, dt_s))
            integral = sum(e * dt for e, dt in self._errors) / (cfg.window * cfg.tick_s)
        else:
            integral = self._sum + error * dt_s / cfg.tick_s
        self.integral = max(-cfg.integral_limit, min(cfg.integral_limit, integral))
        self._sum = self.integral
        self.derivative = (error - self._prev_error) * cfg.tick_s / dt_s
        self._prev_error = error
