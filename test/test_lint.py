"""Lint is part of the tests (ament defaults: 99 columns, single quotes, sorted imports)."""
from pathlib import Path
import shutil
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list:
    exe = Path(sys.executable).with_name('ruff')
    if exe.exists():
        return [str(exe)]
    found = shutil.which('ruff')
    assert found, 'ruff is not installed (requirements/dev.txt)'
    return [found]


def test_ruff_clean():
    proc = subprocess.run(_ruff() + ['check', '--no-cache', str(ROOT)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_xml_and_setup_agree():
    """Every node named in the docs has a console script and a file under nodes/."""
    import re
    setup_text = (ROOT / 'setup.py').read_text()
    for node in ('planner_node', 'controller_node', 'bridge_node'):
        assert f"'{node}'" in setup_text
        assert (ROOT / 'orion_lite_ros' / 'nodes' / f'{node}.py').is_file()
    xml = (ROOT / 'package.xml').read_text()
    assert re.search(r'<name>orion_lite_ros</name>', xml)
    assert '<build_type>ament_python</build_type>' in xml
    assert (ROOT / 'resource' / 'orion_lite_ros').is_file()
