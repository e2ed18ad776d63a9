"""Runner specs, parameter refusal, latest-wins slot."""
import threading

import pytest

from orion_lite_ros.nodes.common import LatestSlot, ParameterError
from orion_lite_ros.nodes.runner import NodeSpec, start_nodes


def test_ros_args():
    spec = NodeSpec('planner_node', name='p', params_files=('a.yaml',),
                    parameters={'image_transports': ['raw'], 'slop_s': 0.1, 'x': True},
                    remappings={'~/input/odometry': '/odom'})
    assert spec.ros_args() == ['--ros-args', '-r', '__node:=p', '--params-file', 'a.yaml',
                               '-p', 'image_transports:=["raw"]', '-p', 'slop_s:=0.1',
                               '-p', 'x:=true', '-r', '~/input/odometry:=/odom']
    assert spec.target() == ('orion_lite_ros.nodes.planner_node', 'PlannerNode')
    with pytest.raises(ValueError, match='unknown executable'):
        NodeSpec('nope').target()
    with pytest.raises(ValueError, match='mode'):
        start_nodes([spec], mode='fibers')


@pytest.mark.ros
@pytest.mark.parametrize('params, reason', [
    ({'image_transports': ['raw', 'jpeg']}, 'image_transports'),
    ({'precision': 'fp8', 'model_preset': 'mini', 'warmup_iters': 0}, 'precision'),
    ({'slop_s': -1.0}, 'slop_s'),
    ({'camera_names': ['CAM_FRONT']}, 'camera_names'),
    ({'queue_size': 2.5}, "'queue_size'"),
    ({'target_lookahead_m': 0.0}, 'target_lookahead_m'),
])
def test_planner_refuses_bad_parameters(ros_context, params, reason):
    with pytest.raises(ParameterError, match=reason):
        start_nodes([NodeSpec('planner_node', parameters=params)], context=ros_context)


def test_latest_slot_drops_older_items():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.dropped == 1
    assert slot.take(0.0) == 2 and slot.take(0.0) is None
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    worker.start()
    slot.put(3)
    worker.join(5.0)
    assert got == [3]
    slot.close()
    assert slot.take(5.0) is None and slot.closed
