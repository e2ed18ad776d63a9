"""sim/carla launch files: importable and build their actions where `launch` exists."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('name', ['sim.launch.py', 'carla.launch.py'])
def test_launch_file_builds_description(name):
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), ROOT / 'launch' / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities


@pytest.mark.parametrize('name', ['sim.launch.py', 'carla.launch.py'])
def test_launch_file_compiles(name):
    compile((ROOT / 'launch' / name).read_text(), name, 'exec')
