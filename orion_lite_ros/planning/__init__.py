"""Planner logic shared by the planner node and the offline bag replay (no rclpy)."""
