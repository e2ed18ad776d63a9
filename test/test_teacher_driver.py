"""Closed-loop drivers on the embedded simulator (physics only, no ROS)."""
import pytest
import torch

from orion_lite_ros.eval.bench2drive import summarize
from orion_lite_ros.layout import NUM_WAYPOINTS
from orion_lite_ros.sim.backend import heldout_routes, training_routes
from orion_lite_ros.teacher.config import TeacherConfig
from orion_lite_ros.teacher.driver import ExpertDriver, TeacherDriver, drive_routes
from orion_lite_ros.teacher.model import PrivilegedTeacher

SMALL = TeacherConfig(d_model=32, num_layers=1, num_heads=2, ffn_dim=64, head_hidden=64)


@pytest.fixture(autouse=True)
def one_thread():
    """Several torch threads on a shared 2-core box make small forwards 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class RouteFollower(PrivilegedTeacher):
    """Plans along its route tokens: checks the token frame and the controller wiring."""

    def forward(self, tokens):
        out = super().forward(tokens)
        out['waypoints'] = tokens['route'][:, :NUM_WAYPOINTS] * 0.5
        return out


def test_teacher_driver_runs_a_short_route():
    route = training_routes([1], ['ramp_merge'])[0]
    driver = TeacherDriver(PrivilegedTeacher(SMALL))
    [record] = drive_routes([route], driver, max_steps=40)
    assert record.meta['steps'] == '40' and record.meta['driver'] == 'teacher'
    assert float(record.meta['plan_ms_mean']) > 0
    assert driver.last_waypoints.shape == (NUM_WAYPOINTS, 2)


def test_following_the_route_tokens_makes_progress_without_deviation():
    torch.manual_seed(0)
    route = training_routes([1], ['ramp_merge'])[0]
    [record] = drive_routes([route], TeacherDriver(RouteFollower(SMALL)), max_steps=200)
    kinds = {i.kind for i in record.infractions}
    assert 'route_dev' not in kinds and 'outside_route_lanes' not in kinds
    assert record.route_completion_pct > 10.0      # ~30 m in 10 s (throttle cut at 5 m/s)
    assert max(record.trace.speed_mps) > 3.0


def test_expert_driver_completes_a_heldout_route():
    records = drive_routes(heldout_routes()[:1], ExpertDriver())
    assert summarize(records).driving_score == 100.0
