"""Time helpers: header stamps <-> integer nanoseconds, seconds, sim-time steps.

Integers in nanoseconds are the internal currency (exact, hashable, no float drift);
``builtin_interfaces/Time`` appears only at the message edge.
"""
import time as _time
from typing import Optional

from builtin_interfaces.msg import Duration as DurationMsg
from builtin_interfaces.msg import Time as TimeMsg

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (or anything with ``sec``/``nanosec``) -> ns."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> TimeMsg:
    """ns (>= 0) -> ``builtin_interfaces/Time``."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f'a ROS stamp cannot be negative: {stamp_ns} ns')
    sec, nanosec = divmod(stamp_ns, NS_PER_S)
    return TimeMsg(sec=sec, nanosec=nanosec)


def duration_to_ns(duration) -> int:
    """``builtin_interfaces/Duration`` -> ns (may be negative)."""
    return int(duration.sec) * NS_PER_S + int(duration.nanosec)


def ns_to_duration(duration_ns: int) -> DurationMsg:
    """ns -> ``builtin_interfaces/Duration`` (sec may be negative, nanosec in [0, 1e9))."""
    sec, nanosec = divmod(int(duration_ns), NS_PER_S)
    return DurationMsg(sec=sec, nanosec=nanosec)


def s_to_ns(seconds: float) -> int:
    """Seconds -> ns, rounded to the nearest ns (0.05 s -> exactly 50_000_000)."""
    return int(round(float(seconds) * NS_PER_S))


def ns_to_s(stamp_ns: int) -> float:
    return int(stamp_ns) / NS_PER_S


def stamp_to_s(stamp) -> float:
    return ns_to_s(stamp_to_ns(stamp))


def s_to_stamp(seconds: float) -> TimeMsg:
    return ns_to_stamp(s_to_ns(seconds))


def header_stamp_ns(msg) -> int:
    """Stamp of a message with a ``header`` in ns."""
    return stamp_to_ns(msg.header.stamp)


def wall_time_ns() -> int:
    """System (wall) clock in ns, what a ROS clock reads when ``use_sim_time`` is false."""
    return _time.time_ns()


def stamp_age_s(stamp, now_ns: Optional[int] = None) -> float:
    """Seconds from ``stamp`` (message or ns) to ``now_ns`` (default: wall clock)."""
    stamp_ns = stamp if isinstance(stamp, int) else stamp_to_ns(stamp)
    now_ns = wall_time_ns() if now_ns is None else int(now_ns)
    return ns_to_s(now_ns - stamp_ns)


def sim_step_ns(step_index: int, fixed_delta_s: float, start_ns: int = 0) -> int:
    """Simulation time of step ``step_index`` for a fixed-step simulator (CARLA sync mode)."""
    return int(start_ns) + int(step_index) * s_to_ns(fixed_delta_s)


def sim_step_index(stamp_ns: int, fixed_delta_s: float, start_ns: int = 0) -> int:
    """Inverse of :func:`sim_step_ns`, rounding to the nearest step."""
    step_ns = s_to_ns(fixed_delta_s)
    return int(round((int(stamp_ns) - int(start_ns)) / step_ns))


def clock_msg(stamp_ns: int):
    """``rosgraph_msgs/Clock`` for ``/clock`` publishers (imported lazily: optional package)."""
    from rosgraph_msgs.msg import Clock
    return Clock(clock=ns_to_stamp(stamp_ns))
