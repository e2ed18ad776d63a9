"""What diagnostics report (no ROS): outcomes of the recent window, their level and percentiles.

Every synchronised input set ends in exactly one outcome (``OUTCOMES``); a node records it
with the node-clock time and, for planned sets, the latency. Faults outside the sets (a
refused CameraInfo, a callback that raised) are recorded with ``record_fault`` and count as
faults of the window without entering the per-set accounting. ``window_summary`` gives over the
last ``window_s``: counts per outcome, latency percentiles, and the level:

- ERROR: nothing planned in the window (while inputs arrived or the node has been silent for
  the whole window), or ``error_reason`` given (an input stale for longer than allowed);
- WARN: something planned but faults (anything but ``planned`` / ``dropped``) recur;
- OK: planned, no faults in the window (a fault older than the window is forgotten).
"""
from collections import deque
from dataclasses import dataclass
import threading
from typing import Deque, Dict, Optional, Tuple

import numpy as np

OK, WARN, ERROR = 0, 1, 2
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR'}
OUTCOMES = ('planned', 'dropped', 'stale', 'future', 'bad_image', 'bad_input', 'failed')
# dropped (latest wins: a newer set replaced it) is load shedding, not a fault.
NOT_FAULTS = ('planned', 'dropped')


@dataclass(frozen=True)
class WindowSummary:
    level: int
    message: str
    counts: Dict[str, int]                  # outcome -> count in the window
    totals: Dict[str, int]                  # outcome -> count since start
    latency_ms: Dict[str, float]            # p50 / p95 / max of planned sets in the window

    def values(self) -> Dict[str, object]:
        out: Dict[str, object] = {f'window {k}': v for k, v in self.counts.items()}
        out.update({f'total {k}': v for k, v in self.totals.items()})
        out.update({f'latency_ms {k}': v for k, v in self.latency_ms.items()})
        return out


class OutcomeWindow:
    """Thread-safe record of (time_ns, outcome, latency_s); keeps ``window_s`` of history."""

    def __init__(self, window_s: float = 5.0, max_events: int = 10000):
        self.window_ns = int(window_s * 1e9)
        self._events: Deque[Tuple[int, str, float]] = deque(maxlen=max_events)
        self._side: Deque[Tuple[int, str]] = deque(maxlen=max_events)
        self._totals = {k: 0 for k in OUTCOMES}
        self._lock = threading.Lock()
        self.started_ns: Optional[int] = None

    def record(self, now_ns: int, outcome: str, latency_s: float = float('nan')) -> None:
        if outcome not in self._totals:
            raise ValueError(f'unknown outcome {outcome!r} (known: {OUTCOMES})')
        with self._lock:
            self._events.append((int(now_ns), outcome, float(latency_s)))
            self._totals[outcome] += 1

    def record_fault(self, now_ns: int, kind: str) -> None:
        """A fault that is not the outcome of an input set (e.g. 'camera_info')."""
        with self._lock:
            self._side.append((int(now_ns), str(kind)))
            self._totals[kind] = self._totals.get(kind, 0) + 1

    def summary(self, now_ns: int, error_reason: str = '') -> WindowSummary:
        with self._lock:
            if self.started_ns is None:
                self.started_ns = int(now_ns)
            cutoff = int(now_ns) - self.window_ns
            for queue in (self._events, self._side):
                while queue and queue[0][0] < cutoff:
                    queue.popleft()
            events = list(self._events)
            side = [kind for _, kind in self._side]
            totals = dict(self._totals)
            waited_ns = int(now_ns) - self.started_ns
        return window_summary(events, totals, error_reason, waited_ns >= self.window_ns, side)


def window_summary(events, totals: Dict[str, int], error_reason: str = '',
                   waited_window: bool = True, side_faults=()) -> WindowSummary:
    """Level and message from the window's (time_ns, outcome, latency_s) events and the
    kinds of its other faults."""
    counts = {k: 0 for k in OUTCOMES}
    for _, outcome, _ in events:
        counts[outcome] += 1
    for kind in side_faults:
        counts[kind] = counts.get(kind, 0) + 1
    latencies = np.array([lat for _, o, lat in events if o == 'planned' and lat == lat])
    latency_ms = ({'p50': float(np.percentile(latencies, 50)) * 1e3,
                   'p95': float(np.percentile(latencies, 95)) * 1e3,
                   'max': float(latencies.max()) * 1e3} if len(latencies) else
                  {'p50': float('nan'), 'p95': float('nan'), 'max': float('nan')})
    faults = {k: n for k, n in counts.items() if n and k not in NOT_FAULTS}
    fault_text = ', '.join(f'{k} {n}' for k, n in faults.items())
    if error_reason:
        level, message = ERROR, error_reason
    elif counts['planned'] == 0 and (faults or counts['dropped'] or waited_window):
        level = ERROR
        message = f'nothing planned in the window ({fault_text or "no input sets"})'
    elif faults:
        level, message = WARN, f'faults in the window: {fault_text}'
    else:
        level, message = OK, 'planning' if counts['planned'] else 'waiting for inputs'
    return WindowSummary(level, message, counts, totals, latency_ms)
