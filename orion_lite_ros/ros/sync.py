"""Approximate time synchronisation with the message_filters API, for machines without it.

Semantics follow message_filters' Python ``ApproximateTimeSynchronizer``: each input keeps a
queue keyed by stamp (ns), bounded by ``queue_size`` (oldest evicted); a new message is the
anchor of a search over the other queues' messages within ``slop`` of it, each queue's
candidates ordered closest-first; the first combination (in that order) whose stamps span
less than ``slop`` is emitted and its messages removed. Unlike message_filters, the user
callback runs after our lock is released, so a slow callback does not stall inputs.

``Cache`` keeps the last ``cache_size`` messages of one input in arrival order, as
message_filters' does; its queries take an ``rclpy.time.Time``, a ``builtin_interfaces/Time`` or
integer nanoseconds and its times come back as ``rclpy.time.Time`` (``Stamp`` when rclpy is not
importable), so code written for message_filters runs unchanged.

``make_synchronizer`` uses the real message_filters when importable, else this module.
rclpy is not needed here: ``Subscriber`` calls ``create_subscription`` on the node given, and
``rclpy.time`` is imported lazily only to hand times back in the type message_filters uses.
"""
from dataclasses import dataclass
import logging
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from orion_lite_ros.ros.time import ns_to_stamp, s_to_ns, stamp_to_ns

_LOG = logging.getLogger(__name__)


class SimpleFilter:
    """A filter that forwards what it outputs to registered callbacks."""

    def __init__(self):
        self.callbacks = {}
        self._next_connection = 0

    def registerCallback(self, cb: Callable, *args) -> int:
        """Call ``cb(*outputs, *args)`` on each output; returns a connection id."""
        connection = self._next_connection
        self._next_connection += 1
        self.callbacks[connection] = (cb, args)
        return connection

    def signalMessage(self, *msg) -> None:
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class Subscriber(SimpleFilter):
    """A ROS 2 subscription as a filter: ``Subscriber(node, msg_type, topic, qos_profile=10)``."""

    def __init__(self, node, msg_type, topic: str, qos_profile=10, **kwargs):
        super().__init__()
        self.node = node
        self.topic = topic
        self.sub = node.create_subscription(msg_type, topic, self.callback,
                                            qos_profile=qos_profile, **kwargs)

    def callback(self, msg) -> None:
        self.signalMessage(msg)

    def getTopic(self) -> str:
        return self.topic

    def __getattr__(self, key):
        if key == 'sub':
            raise AttributeError(key)
        return getattr(self.sub, key)


class Stamp:
    """A time in ns for machines without rclpy (``nanoseconds``, ordering, ``to_msg``)."""

    clock_type = None

    def __init__(self, nanoseconds: int):
        self.nanoseconds = int(nanoseconds)

    def to_msg(self):
        return ns_to_stamp(self.nanoseconds)

    def __eq__(self, other) -> bool:
        return self.nanoseconds == to_ns(other)

    def __lt__(self, other) -> bool:
        return self.nanoseconds < to_ns(other)

    def __le__(self, other) -> bool:
        return self.nanoseconds <= to_ns(other)

    def __gt__(self, other) -> bool:
        return self.nanoseconds > to_ns(other)

    def __ge__(self, other) -> bool:
        return self.nanoseconds >= to_ns(other)

    def __hash__(self) -> int:
        return hash(self.nanoseconds)

    def __repr__(self) -> str:
        return f'Stamp(nanoseconds={self.nanoseconds})'


def to_ns(stamp) -> int:
    """ns of an ``rclpy.time.Time`` (or ``Stamp``), a ``builtin_interfaces/Time`` or an int."""
    if isinstance(stamp, int):
        return stamp
    if hasattr(stamp, 'nanoseconds'):
        return int(stamp.nanoseconds)
    return stamp_to_ns(stamp)


def ros_time(stamp_ns: int):
    """``rclpy.time.Time`` (ROS clock, as message_filters returns) or ``Stamp`` without rclpy."""
    try:
        from rclpy.time import Time
    except ImportError:
        return Stamp(stamp_ns)
    return Time(nanoseconds=int(stamp_ns))


def _stamp_ns(msg, allow_headerless: bool) -> Optional[int]:
    stamp = getattr(getattr(msg, 'header', None), 'stamp', None)
    if stamp is not None:
        return stamp.nanoseconds if hasattr(stamp, 'nanoseconds') else stamp_to_ns(stamp)
    if allow_headerless:
        return time.time_ns()
    _LOG.warning('dropping a %s without header.stamp (allow_headerless is False)',
                 type(msg).__name__)
    return None


class Cache(SimpleFilter):
    """``Cache(f, cache_size=1, allow_headerless=False)``: the last messages of one input.

    A ring buffer in arrival order (the oldest arrival is dropped when full), each message
    kept with its header stamp (or the wall clock when headerless and allowed); every
    message kept is passed on to this filter's callbacks.
    """

    def __init__(self, f: SimpleFilter, cache_size: int = 1, allow_headerless: bool = False):
        super().__init__()
        self.cache_size = int(cache_size)
        self.allow_headerless = allow_headerless
        self.cache_msgs: list = []
        self.cache_times: List[int] = []          # ns, parallel to cache_msgs
        self.lock = threading.Lock()
        self.connectInput(f)

    def connectInput(self, f: SimpleFilter) -> None:
        self.incoming_connection = f.registerCallback(self.add)

    def add(self, msg) -> None:
        stamp_ns = _stamp_ns(msg, self.allow_headerless)
        if stamp_ns is None:
            return
        with self.lock:
            self.cache_msgs.append(msg)
            self.cache_times.append(stamp_ns)
            excess = len(self.cache_msgs) - self.cache_size
            if excess > 0:
                del self.cache_msgs[:excess], self.cache_times[:excess]
        self.signalMessage(msg)

    def _items(self) -> List[tuple]:
        with self.lock:
            return list(zip(self.cache_times, self.cache_msgs))

    def getInterval(self, from_stamp, to_stamp) -> list:
        """Messages stamped in [from_stamp, to_stamp], in arrival order."""
        lo, hi = to_ns(from_stamp), to_ns(to_stamp)
        assert lo <= hi, 'getInterval: from_stamp is after to_stamp'
        return [m for t, m in self._items() if lo <= t <= hi]

    def getElemAfterTime(self, stamp):
        """The first-arrived message stamped at or after ``stamp``; None if there is none."""
        t0 = to_ns(stamp)
        return next((m for t, m in self._items() if t >= t0), None)

    def getElemBeforeTime(self, stamp):
        """The last-arrived message stamped at or before ``stamp``; None if there is none."""
        t0 = to_ns(stamp)
        return next((m for t, m in reversed(self._items()) if t <= t0), None)

    def getLastestTime(self):
        """Stamp of the last-arrived message (message_filters' spelling); None when empty."""
        items = self._items()
        return ros_time(items[-1][0]) if items else None

    def getLatestTime(self):
        return self.getLastestTime()

    def getOldestTime(self):
        """Stamp of the first-arrived message kept; None when empty."""
        items = self._items()
        return ros_time(items[0][0]) if items else None

    def getLast(self):
        """The message with the last-arrived stamp (as message_filters: first one with it)."""
        latest = self.getLastestTime()
        return None if latest is None else self.getElemAfterTime(latest)


class TimeSynchronizer(SimpleFilter):
    """Exact-stamp synchroniser: emits when every queue holds a message with the same stamp."""

    def __init__(self, fs: Sequence[SimpleFilter], queue_size: int):
        super().__init__()
        self.queue_size = int(queue_size)
        self.lock = threading.Lock()
        self.connectInput(fs)

    def connectInput(self, fs: Sequence[SimpleFilter]) -> None:
        self.queues = [{} for _ in fs]
        self.input_connections = [f.registerCallback(self.add, q, i)
                                  for i, (f, q) in enumerate(zip(fs, self.queues))]

    def _push(self, queue: dict, stamp_ns: int, msg) -> None:
        queue[stamp_ns] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]

    def add(self, msg, my_queue: dict, my_queue_index: Optional[int] = None) -> None:
        stamp_ns = _stamp_ns(msg, allow_headerless=False)
        if stamp_ns is None:
            return
        with self.lock:
            self._push(my_queue, stamp_ns, msg)
            common = set.intersection(*(set(q) for q in self.queues))
            matched = [[q.pop(t) for q in self.queues] for t in sorted(common)]
        for msgs in matched:
            self.signalMessage(*msgs)


class ApproximateTimeSynchronizer(TimeSynchronizer):
    """``ApproximateTimeSynchronizer(fs, queue_size, slop, allow_headerless=False)``; slop in s."""

    def __init__(self, fs: Sequence[SimpleFilter], queue_size: int, slop: float,
                 allow_headerless: bool = False):
        super().__init__(fs, queue_size)
        self.slop_ns = s_to_ns(slop)
        self.allow_headerless = allow_headerless

    @property
    def slop(self):
        """As message_filters: an ``rclpy.duration.Duration`` (seconds as float without rclpy)."""
        try:
            from rclpy.duration import Duration
        except ImportError:
            return self.slop_ns / 1e9
        return Duration(nanoseconds=self.slop_ns)

    def add(self, msg, my_queue: dict, my_queue_index: Optional[int] = None) -> None:
        stamp_ns = _stamp_ns(msg, self.allow_headerless)
        if stamp_ns is None:
            return
        with self.lock:
            self._push(my_queue, stamp_ns, msg)
            # Older than everything in a full queue: evicted at once, so it anchors nothing
            # (message_filters skips every combination naming a stamp no longer queued).
            msgs = self._match(stamp_ns, my_queue_index) if stamp_ns in my_queue else None
        if msgs is not None:
            self.signalMessage(*msgs)

    def _candidates(self, anchor_ns: int, my_index: Optional[int]) -> Optional[List[list]]:
        """Per queue, stamps within slop of the anchor, closest first (ties: arrival order)."""
        candidates = []
        for index, queue in enumerate(self.queues):
            if index == my_index:
                candidates.append([anchor_ns])
                continue
            near = [s for s in queue if abs(s - anchor_ns) <= self.slop_ns]
            if not near:
                return None
            candidates.append(sorted(near, key=lambda s: abs(s - anchor_ns)))
        return candidates

    def _match(self, anchor_ns: int, my_index: Optional[int]) -> Optional[list]:
        candidates = self._candidates(anchor_ns, my_index)
        if candidates is None:
            return None
        chosen = _first_within(candidates, self.slop_ns)
        if chosen is None:
            return None
        return [q.pop(t) for q, t in zip(self.queues, chosen)]


def _first_within(candidates: List[list], slop_ns: int) -> Optional[Tuple[int, ...]]:
    """First combination, in itertools.product order, whose stamps span < slop_ns.

    Depth-first with pruning: a prefix already spanning >= slop cannot be completed, so
    this returns what scanning the full product would, without its exponential cost.
    """
    chosen: List[int] = []

    def search(depth: int, low: int, high: int) -> bool:
        if depth == len(candidates):
            return True
        for stamp in candidates[depth]:
            new_low, new_high = min(low, stamp), max(high, stamp)
            if new_high - new_low >= slop_ns:
                continue
            chosen.append(stamp)
            if search(depth + 1, new_low, new_high):
                return True
            chosen.pop()
        return False

    if search(0, float('inf'), float('-inf')):
        return tuple(chosen)
    return None


MAX_BACKWARD_JUMP_S = 1.0    # a stamp this much older than an input's newest: another clock


@dataclass(frozen=True)
class ClockJump:
    """An input's stamps fell back: what came before was stamped on another clock."""

    topic: str
    from_ns: int          # newest stamp before the jump
    to_ns: int            # first stamp after it
    discarded: int        # messages of the input before the jump

    def describe(self) -> str:
        back_s = (self.from_ns - self.to_ns) / 1e9
        return (f'stamps jump back {back_s:.3f} s ({self.from_ns} -> {self.to_ns} ns) after '
                f'{self.discarded} message(s), as when a node stamps with the wall clock '
                'before /clock starts')


class ClockJumpGuard:
    """Per topic, notices a stamp more than ``max_back_s`` older than the newest seen."""

    def __init__(self, max_back_s: float = MAX_BACKWARD_JUMP_S):
        self.max_back_ns = s_to_ns(max_back_s)
        self._newest: Dict[str, int] = {}
        self._count: Dict[str, int] = {}
        self.jumps: List[ClockJump] = []

    def check(self, topic: str, stamp_ns: int) -> Optional[ClockJump]:
        """Record ``stamp_ns``; the jump it starts (the old clock forgotten), else None."""
        newest, count = self._newest.get(topic), self._count.get(topic, 0)
        jump = None
        if newest is not None and newest - stamp_ns > self.max_back_ns:
            jump = ClockJump(topic, newest, stamp_ns, count)
            self.jumps.append(jump)
            newest, count = None, 0
        self._newest[topic] = stamp_ns if newest is None else max(newest, stamp_ns)
        self._count[topic] = count + 1
        return jump


class ClockJumpReset:
    """Clears a synchroniser input's queue when that input's stamps fall back.

    Message_filters drops a message older than everything in its full queue, so after a
    backward jump (wall-clock stamps before /clock, a restarted simulator) the old clock's
    newer stamps would evict every later message of that input and no set could form again.
    Create this on the inputs *before* the synchroniser (callbacks run in registration
    order), then ``attach(synchronizer)``; works with ours and with message_filters'.
    """

    def __init__(self, inputs: Sequence[SimpleFilter], names: Sequence[str] = (),
                 max_back_s: float = MAX_BACKWARD_JUMP_S,
                 on_jump: Optional[Callable[[ClockJump], None]] = None):
        self.guard = ClockJumpGuard(max_back_s)
        self.names = list(names) or [str(i) for i in range(len(inputs))]
        self.on_jump = on_jump
        self.sync = None
        for index, f in enumerate(inputs):
            f.registerCallback(self._check, index)

    @property
    def jumps(self) -> List[ClockJump]:
        return self.guard.jumps

    def attach(self, synchronizer) -> None:
        self.sync = synchronizer

    def _check(self, msg, index: int) -> None:
        stamp = getattr(getattr(msg, 'header', None), 'stamp', None)
        if stamp is None:
            return
        jump = self.guard.check(self.names[index], to_ns(stamp))
        if jump is None:
            return
        if self.sync is not None:
            with self.sync.lock:
                self.sync.queues[index].clear()
        if self.on_jump is not None:
            self.on_jump(jump)


def import_message_filters():
    """The real ``message_filters`` module when importable, else this module (same API)."""
    try:
        import message_filters
        return message_filters
    except ImportError:
        import orion_lite_ros.ros.sync as ours
        return ours


def make_synchronizer(node, topics: Sequence[Tuple[type, str]], queue_size: int,
                      slop_s: float, qos_profile=10, allow_headerless: bool = False,
                      prefer_message_filters: bool = True):
    """Subscribers for ``(msg_type, topic)`` pairs plus an approximate synchroniser over them.

    Returns ``(subscribers, synchronizer)``; keep both alive. Register the callback with
    ``synchronizer.registerCallback(cb)``; it receives one message per topic, in order.
    """
    module = import_message_filters() if prefer_message_filters else None
    if module is None:
        import orion_lite_ros.ros.sync as module
    subscribers = [module.Subscriber(node, msg_type, topic, qos_profile=qos_profile)
                   for msg_type, topic in topics]
    synchronizer = module.ApproximateTimeSynchronizer(subscribers, queue_size, slop_s,
                                                      allow_headerless=allow_headerless)
    return subscribers, synchronizer
