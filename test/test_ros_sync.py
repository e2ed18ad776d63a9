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


def test_headerless_messages_are_dropped_unless_allowed():
    from std_msgs.msg import String
    inputs = [ours.SimpleFilter() for _ in range(2)]
    strict = ours.ApproximateTimeSynchronizer(inputs, 5, 0.5)
    got = []
    strict.registerCallback(lambda *m: got.append(m))
    inputs[0].signalMessage(String(data='a'))
    assert strict.queues == [{}, {}]
    loose_inputs = [ours.SimpleFilter() for _ in range(2)]
    loose = ours.ApproximateTimeSynchronizer(loose_inputs, 5, 0.5, allow_headerless=True)
    loose.registerCallback(lambda *m: got.append(m))
    loose_inputs[0].signalMessage(String(data='a'))
    loose_inputs[1].signalMessage(String(data='b'))
    assert [m.data for m in got[0]] == ['a', 'b']


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
    for name in ('Subscriber', 'ApproximateTimeSynchronizer', 'SimpleFilter'):
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
