"""Lock-step pairing of simulation steps and vehicle commands (no ROS).

Each step has a sensor stamp. The driving stack answers with a command carrying that same
stamp (like the CARLA leaderboard's ROS agents). ``CommandGate.expect(stamp)`` opens a step;
``offer(stamp, control)`` is called from the subscription callback; ``wait(timeout)`` returns the
command for the open step, or, when none arrived in time, the fallback of the configured policy
(``reuse_last``: the last applied command; ``brake``: full brake). A command whose stamp is
older than the open step is counted as late and never applied; one for a future step is
counted as unexpected.
"""
from dataclasses import dataclass, field
import threading
import time
from typing import Optional

from orion_lite_ros.bridge.backend import ControlInput

POLICIES = ('reuse_last', 'brake')
BRAKE = ControlInput(throttle=0.0, steer=0.0, brake=1.0)


@dataclass(frozen=True)
class LockstepConfig:
    command_timeout_s: float = field(
        default=5.0, metadata={'doc': 'wait this long for the command of a step (s)'})
    on_missing_command: str = field(
        default='brake', metadata={'doc': 'missing/late command: reuse_last | brake'})

    def __post_init__(self):
        if self.on_missing_command not in POLICIES:
            raise ValueError(f'on_missing_command must be one of {POLICIES}, '
                             f'got {self.on_missing_command!r}')
        if not self.command_timeout_s > 0:
            raise ValueError(f'command_timeout_s must be > 0, got {self.command_timeout_s}')


@dataclass
class LockstepStats:
    steps: int = 0
    received: int = 0        # commands applied on time
    missing: int = 0         # steps that used the fallback
    late: int = 0            # commands for a step already closed
    unexpected: int = 0      # commands for a step not yet opened
    wait_s_total: float = 0.0

    def as_meta(self) -> dict:
        return {'lockstep_steps': str(self.steps), 'commands_received': str(self.received),
                'commands_missing': str(self.missing), 'commands_late': str(self.late),
                'commands_unexpected': str(self.unexpected),
                'mean_command_wait_ms': f'{1e3 * self.wait_s_total / max(self.steps, 1):.1f}'}


class CommandGate:
    """Thread-safe: ``offer`` from a callback thread; ``expect``/``wait`` from the step loop."""

    def __init__(self, config: LockstepConfig = LockstepConfig()):
        self.config = config
        self.stats = LockstepStats()
        self._cond = threading.Condition()
        self._expected: Optional[int] = None
        self._answer: Optional[ControlInput] = None
        self._last_applied: ControlInput = BRAKE
        self._cancelled = False

    def cancel(self) -> None:
        """Shutting down: every wait returns at once (with the fallback when unanswered)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def reset(self) -> None:
        """New route: statistics and the reusable last command start afresh."""
        with self._cond:
            self.stats = LockstepStats()
            self._expected, self._answer, self._last_applied = None, None, BRAKE

    def expect(self, stamp_ns: int) -> None:
        with self._cond:
            self._expected, self._answer = int(stamp_ns), None

    def offer(self, stamp_ns: int, control: ControlInput) -> bool:
        """True when ``control`` answers the open step."""
        with self._cond:
            if self._expected is not None and stamp_ns == self._expected:
                if self._answer is None:
                    self._answer = control
                    self._cond.notify_all()
                return True
            if self._expected is None or stamp_ns < self._expected:
                self.stats.late += 1
            else:
                self.stats.unexpected += 1
            return False

    def poll(self, timeout_s: float) -> bool:
        """True once the open step has its command (the step stays open)."""
        with self._cond:
            self._cond.wait_for(lambda: self._answer is not None or self._cancelled, timeout_s)
            return self._answer is not None

    def wait(self, timeout_s: Optional[float] = None) -> ControlInput:
        """The command for the open step, or the fallback after the timeout; closes the step."""
        timeout = self.config.command_timeout_s if timeout_s is None else timeout_s
        start = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: self._answer is not None or self._cancelled, timeout)
            answer = self._answer
            self.stats.steps += 1
            self.stats.wait_s_total += time.monotonic() - start
            if answer is None:
                self.stats.missing += 1
                answer = self._fallback()
            else:
                self.stats.received += 1
            self._last_applied = answer
            self._expected, self._answer = None, None
            return answer

    def _fallback(self) -> ControlInput:
        if self.config.on_missing_command == 'reuse_last':
            return self._last_applied
        return BRAKE
