"""Approximate time synchronisation: our implementation and (when importable) message_filters.

The same cases run against both; inputs are fed through plain filters (no DDS) except in the
last test, which goes over real DDS.
"""
import itertools
import random
import threading
import time

from geometry_msgs.msg import PointStamped
import pytest

from orion_lite_ros.ros import sync as ours
from orion_lite_ros.ros.sync import _first_within, import_message_filters, make_synchronizer
from orion_lite_ros.ros.time import ns_to_stamp

try:
    import message_filters as real
except ImportError:
    real = None

IMPLEMENTATIONS = [
    pytest.param(ours, id='ours'),
    pytest.param(real, id='message_filters',
                 marks=pytest.mark.skipif(real is None, reason='message_filters not installed')),
]
FRAME_NS = 100_000_000     # 10 Hz


def _msg(frame: int, jitter_ns: int = 0) -> PointStamped:
    """A stamped message carrying its frame number in point.x."""
    msg = PointStamped()
    msg.header.stamp = ns_to_stamp(1_000_000_000 + frame * FRAME_NS + jitter_ns)
    msg.point.x = float(frame)
    return msg


class Harness:
    """N fake input filters feeding one ApproximateTimeSynchronizer; collects the sets."""

    def __init__(self, module, topics: int, queue_size: int = 10, slop_s: float = 0.02):
        self.inputs = [module.SimpleFilter() for _ in range(topics)]
        self.sync = module.ApproximateTimeSynchronizer(self.inputs, queue_size, slop_s)
        self.sets = []
        self.sync.registerCallback(lambda *msgs: self.sets.append(msgs))

    def feed(self, topic: int, frame: int, jitter_ns: int = 0) -> None:
        self.inputs[topic].signalMessage(_msg(frame, jitter_ns))

    def frames(self):
        """Per emitted set, the frame number of each member."""
        return [tuple(int(m.point.x) for m in msgs) for msgs in self.sets]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_exact_stamps(module):
    h = Harness(module, topics=3)
    for frame in range(5):
        for topic in range(3):
            h.feed(topic, frame)
    assert h.frames() == [(f, f, f) for f in range(5)]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_jitter_within_slop(module):
    rng = random.Random(3)
    h = Harness(module, topics=4, slop_s=0.02)
    for frame in range(20):
        for topic in rng.sample(range(4), 4):
            h.feed(topic, frame, jitter_ns=rng.randint(-9_000_000, 9_000_000))
    assert h.frames() == [(f,) * 4 for f in range(20)]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_spread_of_slop_or_more_is_not_a_set(module):
    h = Harness(module, topics=2, slop_s=0.02)
    h.feed(0, 0)
    h.feed(1, 0, jitter_ns=20_000_000)          # exactly slop apart: rejected (strict)
    h.feed(1, 1, jitter_ns=-85_000_000)         # 15 ms after frame 0: accepted
    assert h.frames() == [(0, 1)]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_one_camera_dropping_frames(module):
    h = Harness(module, topics=3)
    for frame in range(6):
        for topic in range(3):
            if topic == 2 and frame in (1, 3, 4):
                continue
            h.feed(topic, frame)
    assert h.frames() == [(0, 0, 0), (2, 2, 2), (5, 5, 5)]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_out_of_order_arrival(module):
    h = Harness(module, topics=3)
    h.feed(0, 1)
    h.feed(0, 0)
    h.feed(1, 1, jitter_ns=3_000_000)
    h.feed(2, 0)
    h.feed(1, 0)
    h.feed(2, 1, jitter_ns=-4_000_000)
    assert sorted(h.frames()) == [(0, 0, 0), (1, 1, 1)]
    assert h.frames()[0] == (0, 0, 0)        # completed first


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_queue_overflow_evicts_oldest(module):
    h = Harness(module, topics=3, queue_size=2)
    for frame in range(5):
        h.feed(0, frame)
    for frame in range(5):
        h.feed(1, frame)
        h.feed(2, frame)
    assert h.frames() == [(3, 3, 3), (4, 4, 4)]
    assert all(len(q) <= 2 for q in h.sync.queues)


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_closest_candidate_wins_and_extra_args_are_passed(module):
    inputs = [module.SimpleFilter() for _ in range(2)]
    sync = module.ApproximateTimeSynchronizer(inputs, 10, 0.05)
    got = []
    sync.registerCallback(lambda a, b, tag: got.append((a.point.x, b.point.x, tag)), 'tag')
    a_far, a_near = _msg(0, -30_000_000), _msg(0, -5_000_000)
    a_far.point.x, a_near.point.x = 1.0, 2.0
    inputs[0].signalMessage(a_far)
    inputs[0].signalMessage(a_near)
    inputs[1].signalMessage(_msg(0))
    assert got == [(2.0, 0.0, 'tag')]


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_message_older_than_a_full_queue_is_dropped_not_matched(module):
    # Queue 0 full of wall-clock stamps; a sim-time message on it is evicted on arrival and
    # must not anchor a match (ours used to pop it again: KeyError).
    h = Harness(module, topics=2, queue_size=2)
    wall = 1_764_000_000 * 10**9
    for k in range(2):
        h.inputs[0].signalMessage(_stamped(wall + k * FRAME_NS, 100 + k))
    h.feed(1, 0)
    h.feed(0, 0)                                  # older than both queued: dropped
    assert h.frames() == []
    assert sorted(h.sync.queues[0]) == [wall, wall + FRAME_NS]
    h.feed(1, 1)
    assert h.frames() == [] and len(h.sync.queues[1]) == 2


def _stamped(stamp_ns: int, tag: int) -> PointStamped:
    msg = PointStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.point.x = float(tag)
    return msg


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_headerless_messages_are_dropped_unless_allowed(module):
    from std_msgs.msg import String
    inputs = [module.SimpleFilter() for _ in range(2)]
    strict = module.ApproximateTimeSynchronizer(inputs, 5, 0.5)
    got = []
    strict.registerCallback(lambda *m: got.append(m))
    inputs[0].signalMessage(String(data='a'))
    assert strict.queues == [{}, {}]
    loose_inputs = [module.SimpleFilter() for _ in range(2)]
    loose = module.ApproximateTimeSynchronizer(loose_inputs, 5, 0.5, allow_headerless=True)
    loose.registerCallback(lambda *m: got.append(m))
    loose_inputs[0].signalMessage(String(data='a'))
    loose_inputs[1].signalMessage(String(data='b'))
    assert [m.data for m in got[0]] == ['a', 'b']


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_time_synchronizer_needs_equal_stamps(module):
    inputs = [module.SimpleFilter() for _ in range(3)]
    sync = module.TimeSynchronizer(inputs, 4)
    got = []
    sync.registerCallback(lambda *m: got.append(tuple(int(x.point.x) for x in m)))
    for topic in range(3):
        inputs[topic].signalMessage(_msg(0))
    inputs[0].signalMessage(_msg(1))
    inputs[1].signalMessage(_msg(1))
    inputs[2].signalMessage(_msg(1, jitter_ns=1))        # 1 ns off: no set
    inputs[2].signalMessage(_msg(2))
    assert got == [(0, 0, 0)]
    assert [len(q) for q in sync.queues] == [1, 1, 2]


def _rclpy_time(stamp_ns: int):
    from rclpy.time import Time
    return Time(nanoseconds=stamp_ns)


def _cache(module, size: int, frames, **kw):
    source = module.SimpleFilter()
    cache = module.Cache(source, size, **kw)
    passed = []
    cache.registerCallback(lambda m: passed.append(int(m.point.x) if hasattr(m, 'point')
                                                   else m))
    for frame in frames:
        source.signalMessage(_msg(frame))
    return cache, passed


def _t(frame: int, jitter_ns: int = 0):
    return _rclpy_time(1_000_000_000 + frame * FRAME_NS + jitter_ns)


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_cache_keeps_the_last_arrivals_and_answers_queries(module):
    cache, passed = _cache(module, 4, [0, 1, 3, 2, 4, 5])    # 3 arrives before 2
    assert passed == [0, 1, 3, 2, 4, 5]                      # every message passed on
    frames = lambda msgs: [int(m.point.x) for m in msgs]     # noqa: E731
    assert frames(cache.getInterval(_t(0), _t(9))) == [3, 2, 4, 5]    # arrival order
    assert frames(cache.getInterval(_t(2), _t(4))) == [3, 2, 4]
    assert cache.getInterval(_t(6), _t(9)) == []
    assert int(cache.getElemAfterTime(_t(2, 1)).point.x) == 3   # first arrival at/after
    assert int(cache.getElemAfterTime(_t(4)).point.x) == 4      # equal stamp counts
    assert cache.getElemAfterTime(_t(5, 1)) is None
    assert int(cache.getElemBeforeTime(_t(3, -1)).point.x) == 2  # last arrival at/before
    assert cache.getElemBeforeTime(_t(2, -1)) is None
    assert cache.getLastestTime() == _t(5) and cache.getOldestTime() == _t(3)
    assert cache.getLastestTime().nanoseconds == _t(5).nanoseconds
    assert int(cache.getLast().point.x) == 5


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_empty_cache_and_headerless(module):
    from std_msgs.msg import String
    cache, _ = _cache(module, 3, [])
    assert cache.getLastestTime() is None and cache.getOldestTime() is None
    assert cache.getLast() is None and cache.getElemAfterTime(_t(0)) is None
    cache.add(String(data='x'))                                # no header: dropped
    assert cache.getLastestTime() is None
    loose, _ = _cache(module, 3, [], allow_headerless=True)
    before = time.time_ns()
    loose.add(String(data='x'))                                # stamped with the clock now
    stamp = loose.getLastestTime().nanoseconds
    assert before <= stamp <= time.time_ns()
    assert loose.getLast().data == 'x'


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_cache_chains_into_a_synchronizer(module):
    sources = [module.SimpleFilter() for _ in range(2)]
    caches = [module.Cache(s, 5) for s in sources]
    sync = module.ApproximateTimeSynchronizer(caches, 5, 0.02)
    got = []
    sync.registerCallback(lambda a, b: got.append((int(a.point.x), int(b.point.x))))
    sources[0].signalMessage(_msg(0))
    sources[1].signalMessage(_msg(0, jitter_ns=5_000_000))
    assert got == [(0, 0)]


def test_cache_queries_take_stamp_messages_and_ns_too():
    cache, _ = _cache(ours, 3, [0, 1, 2])
    assert int(cache.getElemAfterTime(ns_to_stamp(1_050_000_000)).point.x) == 1
    assert int(cache.getElemBeforeTime(1_150_000_000).point.x) == 1
    assert len(cache.getInterval(ns_to_stamp(1_000_000_000), 1_200_000_000)) == 3
    with pytest.raises(AssertionError):
        cache.getInterval(_t(2), _t(1))


def test_stamp_without_rclpy_orders_like_rclpy_time():
    a, b = ours.Stamp(5), ours.Stamp(7)
    assert a < b and a <= 5 and b > ns_to_stamp(6) and a == ours.Stamp(5)
    assert a.to_msg().nanosec == 5


def test_callback_runs_outside_our_lock():
    h = Harness(ours, topics=2)
    held = []
    h.sync.registerCallback(lambda *m: held.append(h.sync.lock.locked()))
    h.feed(0, 0)
    h.feed(1, 0)
    assert held == [False]


def test_slow_callback_does_not_block_other_inputs():
    h = Harness(ours, topics=2)
    release = threading.Event()
    h.sync.registerCallback(lambda *m: release.wait(2.0))
    h.feed(0, 0)
    worker = threading.Thread(target=h.feed, args=(1, 0))
    worker.start()
    time.sleep(0.05)
    started = time.monotonic()
    h.feed(0, 1)                                  # must not wait for the slow callback
    assert time.monotonic() - started < 0.5
    release.set()
    worker.join()


def test_pruned_search_equals_full_product():
    rng = random.Random(7)
    for _ in range(300):
        candidates = [rng.sample(range(0, 60), rng.randint(1, 4)) for _ in range(4)]
        slop = rng.randint(1, 30)
        expected = next((c for c in itertools.product(*candidates)
                         if max(c) - min(c) < slop), None)
        assert _first_within(candidates, slop) == expected


def test_import_message_filters_falls_back_to_ours():
    module = import_message_filters()
    assert module is (real if real is not None else ours)
    for name in ('Subscriber', 'ApproximateTimeSynchronizer', 'SimpleFilter', 'Cache',
                 'TimeSynchronizer'):
        assert hasattr(module, name)


@pytest.mark.ros
def test_over_dds_with_our_subscriber(ros_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    node = rclpy.create_node('sync_test', context=ros_context)
    topics = [f'/sync_test/cam{i}' for i in range(3)]
    pubs = [node.create_publisher(PointStamped, t, 10) for t in topics]
    subs, sync = make_synchronizer(node, [(PointStamped, t) for t in topics], queue_size=10,
                                   slop_s=0.02, qos_profile=10, prefer_message_filters=False)
    assert all(isinstance(s, ours.Subscriber) for s in subs)
    assert subs[1].getTopic() == topics[1] and subs[1].topic_name == topics[1]
    sets = []
    sync.registerCallback(lambda *msgs: sets.append([int(m.point.x) for m in msgs]))
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        _spin_until(executor, lambda: all(p.get_subscription_count() for p in pubs))
        for frame in range(5):
            for i, pub in enumerate(pubs):
                if not (i == 2 and frame == 2):        # camera 2 drops frame 2
                    pub.publish(_msg(frame, jitter_ns=1_000_000 * i))
        _spin_until(executor, lambda: len(sets) >= 4)
    finally:
        executor.shutdown()
        node.destroy_node()
    assert sets == [[f] * 3 for f in (0, 1, 3, 4)]


def _spin_until(executor, done, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, 'timed out'
        executor.spin_once(timeout_sec=0.05)


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_clock_jump_reset_lets_sets_form_again(module):
    # Input 0 starts with wall-clock stamps (a node up before /clock): with message_filters'
    # rule alone its queue holds them forever and no set forms; the reset clears the queue.
    inputs = [module.SimpleFilter() for _ in range(2)]
    jumps = []
    reset = ours.ClockJumpReset(inputs, ['/odom', '/cam'], on_jump=jumps.append)
    sync = module.ApproximateTimeSynchronizer(inputs, 3, 0.02)
    reset.attach(sync)
    sets = []
    sync.registerCallback(lambda *m: sets.append(tuple(int(x.point.x) for x in m)))
    wall = 1_764_000_000 * 10**9
    for k in range(5):
        inputs[0].signalMessage(_stamped(wall + k * FRAME_NS, 100 + k))
    for frame in range(3):
        inputs[0].signalMessage(_msg(frame))
        inputs[1].signalMessage(_msg(frame))
    assert sets == [(0, 0), (1, 1), (2, 2)]
    [jump] = jumps
    assert jump.topic == '/odom' and jump.discarded == 5 and jump.from_ns == wall + 4 * FRAME_NS
    assert 'wall clock' in jump.describe()


def test_small_reordering_is_not_a_clock_jump():
    guard = ours.ClockJumpGuard(1.0)
    assert guard.check('a', 5_000_000_000) is None
    assert guard.check('a', 4_200_000_000) is None          # 0.8 s back: reordering
    assert guard.check('a', 3_900_000_000) is not None      # 1.1 s back: another clock


@pytest.mark.parametrize('module', IMPLEMENTATIONS)
def test_attributes_code_reads_on_message_filters(module):
    inputs = [module.SimpleFilter() for _ in range(2)]
    sync = module.ApproximateTimeSynchronizer(inputs, 7, 0.02, allow_headerless=True)
    assert sync.slop.nanoseconds == 20_000_000 and sync.queue_size == 7
    assert sync.allow_headerless is True and len(sync.queues) == 2
    assert isinstance(sync.lock, type(threading.Lock()))
    cache = module.Cache(inputs[0], 4)
    assert cache.cache_size == 4 and cache.allow_headerless is False
