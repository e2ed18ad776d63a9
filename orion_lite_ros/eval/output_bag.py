"""Output bag: the input bag plus the replay's planned trajectories and markers.

Every readable message of the input is copied unchanged (same topics, types, log times).
Added per planned frame, logged at the time the frame set completed:
``<prefix>/trajectory`` (nav_msgs/Path in ``base_link``, header = sensor stamp, pose k stamped
+0.5 s * (k + 1), as the planner node publishes it) and ``<prefix>/markers``
(visualization_msgs/MarkerArray: planned trajectory in green, recorded future in white).
Viewable in Foxglove Studio or RViz (``ros2 bag play``).
"""
from pathlib import Path

import numpy as np

from orion_lite_ros.eval import msg_build as mb
from orion_lite_ros.eval.bag_io import BagSink, BagSource
from orion_lite_ros.layout import WAYPOINT_DT_S

DEFAULT_PREFIX = '/orion_lite/replay'


def _with_origin(xy) -> np.ndarray:
    return np.concatenate([np.zeros((1, 2)), np.asarray(xy, dtype=np.float64)], 0)


def _frame_messages(store, frame: dict, base_frame: str):
    stamp = int(frame['stamp_ns'])
    path = mb.path_msg(store, stamp, base_frame, frame['waypoints'], WAYPOINT_DT_S)
    markers = [mb.line_marker(store, stamp, base_frame, 'plan', 0,
                              _with_origin(frame['waypoints']))]
    if frame.get('truth_xy') is not None:
        truth = np.array([[np.nan if v is None else v for v in p] for p in frame['truth_xy']])
        truth = truth[np.all(np.isfinite(truth), axis=1)]
        markers.append(mb.line_marker(store, stamp, base_frame, 'recorded', 0,
                                      _with_origin(truth), color=(1.0, 1.0, 1.0, 0.8),
                                      width_m=0.15))
    return path, mb.marker_array(store, markers)


def write_output_bag(input_bag, output_bag, report: dict, log_times_ns: dict,
                     storage: str = 'mcap', typestore: str = 'auto',
                     prefix: str = DEFAULT_PREFIX, base_frame: str = 'base_link') -> Path:
    """Copy ``input_bag`` to ``output_bag`` and add the planned trajectories of ``report``."""
    added = {int(f['stamp_ns']): f for f in report['frames']}
    with BagSource(input_bag, typestore) as src, \
            BagSink(output_bag, storage, src.typestore_name) as sink:
        pending = sorted((log_times_ns.get(s, s), s) for s in added)
        i = 0
        for conn, t, raw in src.raw_messages():
            while i < len(pending) and pending[i][0] <= t:
                _write_frame(sink, added[pending[i][1]], pending[i][0], prefix, base_frame)
                i += 1
            out = sink.connection(conn.topic, conn.msgtype, conn.msgdef.data, conn.digest,
                                  typestore=src.types, qos=conn.ext.offered_qos_profiles)
            sink.write_raw(out, raw, t)
        for t, stamp in pending[i:]:
            _write_frame(sink, added[stamp], t, prefix, base_frame)
    return Path(output_bag)


def _write_frame(sink: BagSink, frame: dict, log_ns: int, prefix: str, base_frame: str):
    path, markers = _frame_messages(sink.store, frame, base_frame)
    sink.write(f'{prefix}/trajectory', path, log_ns)
    sink.write(f'{prefix}/markers', markers, log_ns)
