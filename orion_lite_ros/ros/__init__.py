"""ROS plumbing without rclpy: message <-> array conversion, synchronisation, rig, time, DDS."""
