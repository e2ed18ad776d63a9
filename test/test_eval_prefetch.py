"""eval/prefetch.py: order, errors at their item, early stop of the producer."""
import threading
import time

import pytest

from orion_lite_ros.eval.prefetch import prefetch


@pytest.mark.parametrize('depth', [0, 1, 3])
def test_items_in_order(depth):
    assert list(prefetch(iter(range(50)), depth)) == list(range(50))


def test_producer_runs_ahead_on_another_thread():
    names = []

    def gen():
        for i in range(4):
            names.append(threading.current_thread().name)
            yield i
    out = prefetch(gen(), 2)
    assert next(out) == 0
    time.sleep(0.2)
    assert len(names) >= 3 and set(names) == {'prefetch'}       # 1 consumed + 2 queued
    assert list(out) == [1, 2, 3]


def test_producer_error_is_raised_at_its_item():
    def gen():
        yield 1
        raise ValueError('bad frame')
    out = prefetch(gen(), 2)
    assert next(out) == 1
    with pytest.raises(ValueError, match='bad frame'):
        next(out)


def test_closing_the_consumer_stops_the_producer():
    produced = []

    def gen():
        for i in range(10_000):
            produced.append(i)
            yield i
    out = prefetch(gen(), 2)
    assert next(out) == 0
    out.close()
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n and n <= 5
    assert not any(t.name == 'prefetch' for t in threading.enumerate())
