"""Lint is part of the tests (ament defaults: 99 columns, single quotes, sorted imports).

ruff is looked up next to the interpreter running the tests (a venv), then as a module of
that interpreter, then on PATH; where none is installed (e.g. `colcon test` on a distro with
only the system Python) the lint test is skipped, never failed for a missing tool."""
import importlib.util
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff_command():
    """The command running ruff, or None when it is not installed anywhere we look."""
    candidates = [Path(sys.executable).with_name('ruff'),
                  Path(sys.prefix) / 'bin' / 'ruff']
    for exe in candidates:
        if exe.is_file():
            return [str(exe)]
    if importlib.util.find_spec('ruff') is not None:
        return [sys.executable, '-m', 'ruff']
    found = shutil.which('ruff')
    return [found] if found else None


def test_ruff_clean():
    ruff = ruff_command()
    if ruff is None:
        pytest.skip('ruff is not installed (pip install -r requirements/dev.txt)')
    proc = subprocess.run(ruff + ['check', '--no-cache', str(ROOT)], cwd=ROOT,
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


def test_package_xml_test_depends_match_what_runs():
    """Declared test depends are the ones the tests use: pytest (and its timeout plugin,
    pytest.ini), nothing of ament_lint that no test runs."""
    import re
    xml = (ROOT / 'package.xml').read_text()
    declared = set(re.findall(r'<test_depend>([^<]+)</test_depend>', xml))
    assert declared == {'python3-pytest', 'python3-pytest-timeout'}, declared
    assert 'timeout' in (ROOT / 'pytest.ini').read_text()
