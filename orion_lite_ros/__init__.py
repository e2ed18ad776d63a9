"""Orion-Lite for ROS 2."""
