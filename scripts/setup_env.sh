#!/usr/bin/env bash
# Idempotent set-up of the development environment.
#   - With a sourced ROS 2 distro (ROS_DISTRO set and rclpy importable): a venv with
#     --system-site-packages so the distro's rclpy and messages are used.
#   - Otherwise: a venv with the ROS 2 Kilted PyPI wheels (rclpy, messages, Fast DDS).
# Either way: CPU PyTorch (torch==2.13.0 unless TORCH_SPEC says otherwise), the package
# (editable) and its Python dependencies. Re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.orion_setup_stamp"
want=$(cat requirements/*.txt setup.py scripts/setup_env.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
ros_path=0
if [ -n "${ROS_DISTRO:-}" ] && "$PY" -c "import rclpy" 2>/dev/null; then
  ros_path=1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if [ "$ros_path" = 1 ]; then
    echo "[setup] ROS 2 $ROS_DISTRO is sourced: venv uses the distro's rclpy and messages"
    "$PY" -m venv --system-site-packages "$VENV"
  else
    echo "[setup] no sourced ROS 2: venv with the ROS 2 Kilted PyPI wheels"
    "$PY" -m venv "$VENV"
  fi
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel setuptools
$PIP install -q "${TORCH_SPEC:-torch==2.13.0}"
$PIP install -q -r requirements/base.txt
if [ "$ros_path" = 0 ]; then
  $PIP install -q -r requirements/ros-pypi.txt
fi
$PIP install -q -r requirements/dev.txt
$PIP install -q --no-deps -e .
# Offscreen rendering for the embedded simulator (MuJoCo): Mesa EGL or OSMesa.
if ! ldconfig -p 2>/dev/null | grep -q -E "libOSMesa|libEGL_mesa"; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq libosmesa6 libegl-mesa0) >/dev/null \
      || echo "[setup] warning: could not install Mesa; rendering tests will be skipped"
  fi
fi
echo "$want" > "$STAMP"
echo "[setup] environment ready in $VENV"
