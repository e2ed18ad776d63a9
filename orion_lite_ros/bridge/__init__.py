"""Simulator bridge: backend protocol, CARLA backend, route results store."""
