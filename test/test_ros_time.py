"""Stamp <-> ns, seconds and sim-time helpers."""
from builtin_interfaces.msg import Time
import pytest

from orion_lite_ros.ros.time import (
    clock_msg,
    duration_to_ns,
    ns_to_duration,
    ns_to_s,
    ns_to_stamp,
    s_to_ns,
    s_to_stamp,
    sim_step_index,
    sim_step_ns,
    stamp_age_s,
    stamp_to_ns,
    stamp_to_s,
)


def test_stamp_ns_round_trip():
    stamp = ns_to_stamp(12_345_678_901_234)
    assert (stamp.sec, stamp.nanosec) == (12_345, 678_901_234)
    assert stamp_to_ns(stamp) == 12_345_678_901_234
    assert stamp_to_ns(Time(sec=3, nanosec=5)) == 3_000_000_005


def test_negative_stamp_is_rejected():
    with pytest.raises(ValueError, match='negative'):
        ns_to_stamp(-1)


def test_seconds_are_rounded_exactly():
    assert s_to_ns(0.05) == 50_000_000
    assert s_to_ns(0.1) * 3 == s_to_ns(0.3)
    assert ns_to_s(1_500_000_000) == 1.5
    assert stamp_to_s(s_to_stamp(2.25)) == 2.25


def test_negative_duration_round_trip():
    duration = ns_to_duration(-1_500_000_000)
    assert (duration.sec, duration.nanosec) == (-2, 500_000_000)
    assert duration_to_ns(duration) == -1_500_000_000


def test_sim_steps_and_age():
    assert sim_step_ns(20, 0.05) == 1_000_000_000
    assert sim_step_ns(3, 0.05, start_ns=10) == 150_000_010
    assert sim_step_index(1_000_000_001, 0.05) == 20
    assert stamp_age_s(ns_to_stamp(1_000_000_000), now_ns=3_500_000_000) == 2.5
    assert stamp_age_s(1_000_000_000, now_ns=1_250_000_000) == 0.25
    assert clock_msg(2_000_000_001).clock.nanosec == 1
