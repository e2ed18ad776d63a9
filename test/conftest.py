"""Test-wide set-up: DDS confined to loopback with our profile and a private domain id."""
import itertools
import os

import pytest

from orion_lite_ros.ros.dds import apply_dds_environment

# A domain id of our own per test session (0-101 are valid for Fast DDS port arithmetic;
# 0 is the usual default, so stay clear of it).
_DOMAIN = int(os.environ.get('ORION_TEST_DOMAIN_ID', 40 + os.getpid() % 50))
apply_dds_environment(use_profile=True, domain_id=_DOMAIN)
os.environ.setdefault('MUJOCO_GL', 'egl')


def _has_cuda() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason='needs a CUDA GPU')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip_gpu)


_next_domain = itertools.count()


def fresh_domain_id() -> int:
    """A DDS domain of one test's own (100-199), so nodes a previous test left behind, or
    another pytest run on this machine, never answer on the same topics."""
    return 10 + (os.getpid() * 7 + next(_next_domain)) % 80


@pytest.fixture
def ros_domain(monkeypatch):
    """A fresh ROS_DOMAIN_ID for this test, also for subprocess nodes it starts."""
    domain = fresh_domain_id()
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    return domain


@pytest.fixture
def ros_context(ros_domain):
    """An rclpy context of the test's own, on the test's own domain, shut down afterwards."""
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)
