"""Closed loop on a CARLA server: bridge_node (CARLA backend) + planner_node + controller_node.

    ros2 launch orion_lite_ros carla.launch.py route_file:=/b2d/bench2drive220.xml \
        carla_host:=localhost carla_port:=2000 checkpoint:=/models/orion_lite

The bridge connects to the server, switches it to synchronous mode (0.05 s), spawns the ego
with the Bench2Drive rig, drives each route of the XML in lock-step with the stack, writes
results (leaderboard-shaped JSON, resumable) and restores the server settings on exit. To be
scored by the official leaderboard instead, see docs/closed_loop.md (ROS 2 agent).
Arguments: route_file, routes (comma-separated ids, '' = all), carla_host, carla_port,
camera_width, camera_height, output_dir, checkpoint (default: the shipped student; a path for
other weights), record_bag, use_dds_profile. The launch ends when the bridge exits (a failing
bridge fails the launch).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from orion_lite_ros.cli.drive import config_dir, drive_specs
from orion_lite_ros.cli.launch_actions import checkpoint_argument, end_with_bridge
from orion_lite_ros.ros.dds import dds_environment

_DDS_KEYS = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE',
             'RMW_FASTRTPS_USE_QOS_FROM_XML')


def _arg(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context)


def bridge_overrides(context) -> dict:
    routes = [r.strip() for r in _arg(context, 'routes').split(',') if r.strip()] or ['']
    return {'backend': 'carla', 'driver': 'stack', 'route_file': _arg(context, 'route_file'),
            'routes': routes, 'carla_host': _arg(context, 'carla_host'),
            'carla_port': int(_arg(context, 'carla_port')),
            'camera_width': int(_arg(context, 'camera_width')),
            'camera_height': int(_arg(context, 'camera_height')),
            'output_dir': _arg(context, 'output_dir'), 'record_bag': _arg(context, 'record_bag')}


def _nodes(context, *args, **kwargs):
    actions = []
    if _arg(context, 'use_dds_profile').lower() in ('1', 'true', 'yes', 'on'):
        env = dds_environment(use_profile=True, base={})
        actions += [SetEnvironmentVariable(k, env[k]) for k in _DDS_KEYS if k in env]
    bridge = Node(package='orion_lite_ros', executable='bridge_node', name='bridge_node',
                  output='screen', parameters=[str(config_dir() / 'bridge.yaml'),
                                               bridge_overrides(context)])
    actions += [bridge, end_with_bridge(bridge)]
    for spec in drive_specs('sim', use_sim_time=True, checkpoint=_arg(context, 'checkpoint')):
        params = dict(spec.parameters)
        if spec.executable == 'controller_node':
            params['rate_hz'] = 0.0          # lock-step: commands only answer trajectories
        actions.append(Node(package='orion_lite_ros', executable=spec.executable,
                            name=spec.executable, output='screen',
                            parameters=list(spec.params_files) + [params],
                            remappings=list(spec.remappings.items())))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('route_file', description='leaderboard / Bench2Drive route XML'),
        DeclareLaunchArgument('routes', default_value='', description='ids, comma-separated'),
        DeclareLaunchArgument('carla_host', default_value='localhost'),
        DeclareLaunchArgument('carla_port', default_value='2000'),
        DeclareLaunchArgument('camera_width', default_value='1600'),
        DeclareLaunchArgument('camera_height', default_value='900'),
        DeclareLaunchArgument('output_dir', default_value='out/carla'),
        checkpoint_argument(),
        DeclareLaunchArgument('record_bag', default_value=''),
        DeclareLaunchArgument('use_dds_profile', default_value='true'),
        OpaqueFunction(function=_nodes),
    ])
