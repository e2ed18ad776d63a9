"""Results of a multi-route run, written after every route; a restarted run resumes.

The file is the leaderboard-shaped JSON of ``eval.bench2drive.results_json`` plus the raw
``route_records`` (what resume reads back). Every write goes to a temporary file in the same
directory, is flushed and fsync'ed, then renamed over the old file: a crash or kill at any
moment leaves either the previous complete file or the new complete file, never a torn one.
"""
import json
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from orion_lite_ros.atomic_io import atomic_write
from orion_lite_ros.eval.bench2drive import metric_info, results_json, save_name
from orion_lite_ros.eval.records import RouteRecord


class ResultsMismatch(RuntimeError):
    """The existing results file belongs to a different run (``run_key`` differs)."""


def atomic_write_json(path: Path, data: dict) -> None:
    path = atomic_write(path, lambda f: json.dump(data, f, indent=1))
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ResultsStore:
    """Route records of one run keyed by route id, persisted after each ``add``.

    ``expected_route_ids``: the routes of the whole run (DS counts missing ones as 0).
    ``run_key``: identifies the run (e.g. driver + route file); resuming a file written with a
    different key raises ``ResultsMismatch`` unless ``resume=False`` (start afresh).
    ``metric_dir``: where ``<save_name>/metric_info.json`` goes for each route (Bench2Drive's
    efficiency/smoothness tool: ``-m <metric_dir>``); None -> not written.
    """

    def __init__(self, path, expected_route_ids: Sequence[str] = (), run_key: str = '',
                 resume: bool = True, sensors: Sequence[str] = (),
                 extra: Optional[Mapping[str, str]] = None, metric_dir=None):
        self.path = Path(path)
        self.expected_route_ids = list(expected_route_ids)
        self.run_key = run_key
        self.sensors = list(sensors)
        self.extra = dict(extra or {})
        self.metric_dir = Path(metric_dir) if metric_dir is not None else None
        self._records: Dict[str, RouteRecord] = {}
        if resume and self.path.is_file():
            self._load()

    def _load(self) -> None:
        with open(self.path) as f:
            data = json.load(f)
        stored_key = data.get('run', {}).get('run_key', '')
        if stored_key != self.run_key:
            raise ResultsMismatch(
                f'{self.path} was written by run {stored_key!r}, this run is {self.run_key!r}; '
                'choose another output file or start afresh (resume=False)')
        for d in data.get('route_records', []):
            record = RouteRecord.from_json(d)
            self._records[record.route_id] = record

    def is_finished(self, route_id: str) -> bool:
        return route_id in self._records

    @property
    def records(self) -> List[RouteRecord]:
        """Records in expected-route order, then any others in insertion order."""
        order = {rid: i for i, rid in enumerate(self.expected_route_ids)}
        return sorted(self._records.values(),
                      key=lambda r: order.get(r.route_id, len(order)))

    def pending(self, route_ids: Sequence[str]) -> List[str]:
        return [rid for rid in route_ids if rid not in self._records]

    def add(self, record: RouteRecord) -> None:
        self._records[record.route_id] = record
        if self.metric_dir is not None:
            folder = self.metric_dir / save_name(record)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(folder / 'metric_info.json', metric_info(record.trace))
        self.write()

    def to_json(self) -> dict:
        expected = max(len(set(self.expected_route_ids) | set(self._records)), 1)
        extra = dict(self.extra, run_key=self.run_key)
        return results_json(self.records, expected_routes=expected, sensors=self.sensors,
                            extra=extra)

    def write(self) -> None:
        atomic_write_json(self.path, self.to_json())


def write_progress(path: Path, route_id: str, step: int, completion_pct: float,
                   done: bool) -> None:
    """The route being driven and how far it is (read by `orion-lite-demo`'s progress bars);
    written atomically, overwritten every time."""
    text = json.dumps({'route_id': route_id, 'step': int(step),
                       'completion_pct': round(float(completion_pct), 2), 'done': bool(done)})
    atomic_write(Path(path), lambda handle: handle.write(text))
