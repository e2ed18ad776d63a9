"""How many CPU threads the engine uses: torch's intra-op pool and the camera preprocessing.

Measured on the 2-core machine (docs/performance.md): the mini model takes 39 ms with two
torch threads on an idle machine and 56 ms with one, but 190 ms with two as soon as one other
process keeps a core busy (OpenMP workers wait for the descheduled one), while one thread stays
at 54 ms. So with `torch_threads: 0` the engine starts from half the cores and a
`ThreadGovernor` moves between that and all of them by what the rest of the machine does: all
cores while the other processes leave them idle, half as soon as they keep more than a third
of a core busy (read from /proc/stat against this process's own CPU time, twice a second):

    torch threads      = cores when the machine is otherwise idle, else max(1, cores // 2)
                         (at most 8)
    preprocess threads = min(6 cameras, cores)     (Pillow's JPEG/resize release the GIL)

On CUDA, torch's CPU pool only runs small ops: one thread. Explicit values always win.
"""
from dataclasses import dataclass
import os
import time
from typing import Callable, Optional, Tuple

MAX_TORCH_THREADS = 8
MAX_PREPROCESS_THREADS = 6


@dataclass(frozen=True)
class ThreadPlan:
    torch: int          # torch.set_num_threads
    preprocess: int     # PreprocessConfig.threads
    cores: int          # CPUs this process may run on


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):          # not Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(torch_threads: int = 0, preprocess_threads: int = 0, device_type: str = 'cpu',
                 cores: int = 0) -> ThreadPlan:
    """The thread counts to use; 0 means 'by the policy' (module docstring)."""
    if torch_threads < 0 or preprocess_threads < 0:
        raise ValueError(f'thread counts must be >= 0 (0: automatic), got torch={torch_threads}'
                         f' preprocess={preprocess_threads}')
    cores = cores or available_cores()
    if device_type == 'cuda':
        auto_torch = 1
    else:
        auto_torch = min(MAX_TORCH_THREADS, max(1, cores // 2))
    auto_pre = min(MAX_PREPROCESS_THREADS, cores)
    return ThreadPlan(torch=torch_threads or auto_torch,
                      preprocess=preprocess_threads or auto_pre, cores=cores)


def read_cpu_times() -> Optional[Tuple[float, float, float]]:
    """(busy CPU s of the machine, total CPU s of the machine, CPU s of this process), or None
    where /proc is not there."""
    try:
        with open('/proc/stat') as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = float(os.sysconf('SC_CLK_TCK'))
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)      # idle + iowait
    total = sum(fields[:8])
    own = sum(os.times()[:2])
    return (total - idle) / tick, total / tick, own


class ThreadGovernor:
    """Chooses torch's thread count between `low` and `high` by the load the other processes
    put on the machine (in cores), with hysteresis; `update()` is called once per frame."""

    def __init__(self, low: int, high: int, cores: int, period_s: float = 0.5,
                 busy_above_cores: float = 0.35, idle_below_cores: float = 0.15,
                 idle_periods: int = 4, read: Callable = read_cpu_times,
                 clock: Callable[[], float] = time.monotonic):
        self.low, self.high, self.cores = int(low), int(high), int(cores)
        self.period_s, self.busy_above, self.idle_below = period_s, busy_above_cores, \
            idle_below_cores
        self.idle_periods = idle_periods
        self._read, self._clock = read, clock
        self.threads = self.low
        self.others_cores = 0.0
        self._last = read()
        self._last_t = clock()
        self._idle_count = 0

    def update(self) -> int:
        now = self._clock()
        if self.low == self.high or now - self._last_t < self.period_s:
            return self.threads
        cur = self._read()
        if cur is None or self._last is None:
            return self.threads
        d_busy, d_total, d_own = (c - p for c, p in zip(cur, self._last))
        self._last, self._last_t = cur, now
        if d_total <= 0:
            return self.threads
        self.others_cores = max(0.0, (d_busy - d_own) / d_total * self.cores)
        if self.others_cores > self.busy_above:
            self.threads, self._idle_count = self.low, 0
        elif self.others_cores < self.idle_below:
            self._idle_count += 1
            if self._idle_count >= self.idle_periods:
                self.threads = self.high
        else:
            self._idle_count = 0
        return self.threads


def governor_for(plan: ThreadPlan, torch_threads_requested: int,
                 device_type: str) -> Optional[ThreadGovernor]:
    """The governor of an automatic CPU thread plan, else None (explicit or CUDA)."""
    if torch_threads_requested or device_type != 'cpu' or read_cpu_times() is None:
        return None
    high = min(MAX_TORCH_THREADS, plan.cores)
    return ThreadGovernor(plan.torch, high, plan.cores) if high > plan.torch else None


def apply(plan: ThreadPlan) -> None:
    """Set torch's intra-op pool (process-wide: the last engine built decides)."""
    set_torch_threads(plan.torch)


def set_torch_threads(n: int) -> None:
    import torch
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
