"""Run a producer generator on a background thread, `depth` items ahead of its consumer.

The replay reads, decodes and preprocesses the next frame set while the model plans the
current one (bag decoding, Pillow and torch all release the GIL, so two cores overlap them).
Exceptions of the producer are raised in the consumer at the item where they happened;
closing the consumer's generator (or leaving its loop) stops the producer.
"""
import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar('T')
_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items` in order, produced on a daemon thread; depth <= 0: no thread."""
    if depth <= 0:
        yield from items
        return
    q: 'queue.Queue' = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:          # handed to the consumer, raised there
            put(_Failure(exc))
            return
        put(_END)

    worker = threading.Thread(target=produce, name='prefetch', daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join(timeout=5.0)
