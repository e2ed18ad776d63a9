"""Record a drive of the embedded simulator's expert as a rosbag2 bag (sim topic names).

What the bridge node would publish on the ``sim`` profile, written directly with ``rosbags``:
camera images + camera_info at ``camera_hz``, odometry every simulation step, the route once
(latched), agent boxes as a MarkerArray (``/sim/objects``) with each camera frame. Used by the
replay tests and as a quick way to get a realistic bag without ROS.
"""
from pathlib import Path

from orion_lite_ros.eval import msg_build as mb
from orion_lite_ros.eval.bag_io import BagSink
from orion_lite_ros.eval.topic_maps import TopicMap
from orion_lite_ros.layout import CAMERA_NAMES


def record_sim_bag(path, family: str = 'lead_brake', seed: int = 0, duration_s: float = 6.0,
                   camera_hz: float = 10.0, storage: str = 'mcap', typestore: str = 'jazzy',
                   camera_size_hw=(90, 160), render: bool = True) -> Path:
    from orion_lite_ros.sim.backend import EmbeddedBackend, scenario_route
    from orion_lite_ros.sim.config import SimConfig
    tm = TopicMap()
    sim = EmbeddedBackend(SimConfig(render=render))
    route = scenario_route(family, seed)
    sim.load_route(route, camera_size_hw)
    every = max(1, int(round(1.0 / (camera_hz * sim.fixed_delta_s))))
    try:
        with BagSink(Path(path), storage, typestore) as sink:
            sink.write(tm.route, mb.path_msg(sink.store, sim.sim_time_ns, 'map',
                                             route.waypoints_xy), sim.sim_time_ns)
            for step in range(int(round(duration_s / sim.fixed_delta_s)) + 1):
                _write_step(sink, sim, tm, step % every == 0)
                if sim.apply_and_tick(sim.expert_control()).done:
                    break
    finally:
        sim.close()
    return Path(path)


def _write_step(sink: BagSink, sim, tm: TopicMap, cameras: bool) -> None:
    store, t = sink.store, sim.sim_time_ns
    ego = sim.ego_state()
    sink.write(tm.odometry, mb.odometry_msg(store, t, ego.x_m, ego.y_m, ego.yaw_rad,
                                            ego.vx_mps, ego.yaw_rate_rps), t)
    if not cameras:
        return
    frame = sim.sensors()
    for name in CAMERA_NAMES:
        rgb = frame.images[name]
        sink.write(tm.cameras[name], mb.image_msg(store, t, name, rgb), t)
        sink.write(tm.camera_info[name], mb.camera_info_msg(
            store, t, name, rgb.shape[1], rgb.shape[0], frame.intrinsics[name]), t)
    boxes = sim.ground_truth().agent_boxes
    markers = [mb.box_marker(store, t, 'map', 'agents', i, b[:5]) for i, b in enumerate(boxes)]
    sink.write(tm.objects, mb.marker_array(store, markers), t)
