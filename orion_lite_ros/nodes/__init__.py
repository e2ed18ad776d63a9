"""Thin rclpy nodes (planner, controller, bridge) and the runner that starts them without
`ros2 launch`. Only this package imports rclpy."""
