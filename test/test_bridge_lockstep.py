"""Lock-step command pairing: on time, late, missing (brake / reuse_last)."""
import threading
import time

import pytest

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.bridge.lockstep import BRAKE, CommandGate, LockstepConfig

GO = ControlInput(throttle=0.5, steer=0.1)


def test_command_with_matching_stamp_is_applied():
    gate = CommandGate(LockstepConfig(command_timeout_s=1.0))
    gate.expect(100)
    assert gate.offer(100, GO)
    assert gate.wait() == GO
    assert (gate.stats.received, gate.stats.missing) == (1, 0)


def test_command_from_another_thread_wakes_the_wait():
    gate = CommandGate(LockstepConfig(command_timeout_s=5.0))
    gate.expect(7)
    threading.Timer(0.05, gate.offer, args=(7, GO)).start()
    t0 = time.monotonic()
    assert gate.wait() == GO
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize('policy, expected', [('brake', BRAKE), ('reuse_last', GO)])
def test_missing_and_late_commands_follow_the_policy(policy, expected):
    gate = CommandGate(LockstepConfig(command_timeout_s=0.05, on_missing_command=policy))
    gate.expect(100)
    gate.offer(100, GO)
    assert gate.wait() == GO
    gate.expect(200)
    assert not gate.offer(100, ControlInput(throttle=1.0))      # late: old stamp, ignored
    assert gate.wait() == expected
    assert gate.stats.missing == 1 and gate.stats.late == 1
    gate.expect(300)
    assert not gate.offer(400, GO)                              # for a future step
    assert gate.stats.unexpected == 1
    gate.wait()
    assert gate.offer(300, GO) is False and gate.stats.late == 2   # after the step closed


def test_reset_forgets_last_command_and_config_is_validated():
    gate = CommandGate(LockstepConfig(command_timeout_s=0.01, on_missing_command='reuse_last'))
    gate.expect(1)
    gate.offer(1, GO)
    gate.wait()
    gate.reset()
    gate.expect(2)
    assert gate.wait() == BRAKE                                 # nothing to reuse yet
    with pytest.raises(ValueError, match='on_missing_command'):
        LockstepConfig(on_missing_command='coast')
    with pytest.raises(ValueError):
        LockstepConfig(command_timeout_s=0.0)
