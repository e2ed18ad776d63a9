"""Embedded driving simulator (numpy + MuJoCo rendering); no ROS imports."""
