"""Benchmarks run as scripts (``python -m orion_lite_ros.bench.<name>``)."""
