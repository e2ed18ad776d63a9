"""Planner + controller with a parameter YAML and a topic profile.

    ros2 launch orion_lite_ros drive.launch.py profile:=carla use_sim_time:=true
    ros2 launch orion_lite_ros drive.launch.py config:=/path/a.yaml,/path/b.yaml

Arguments: config (comma-separated parameter YAMLs; default: the package's planner.yaml and
controller.yaml), checkpoint ('default' = the shipped student, a path, '' = random weights;
wins over the YAMLs), profile (sim|carla|autoware or a YAML path: config/profiles/<profile>.yaml
remappings and parameters), use_sim_time, use_dds_profile (loopback discovery + the shipped
Fast DDS shared-memory profile). Without `launch`, `orion-lite-drive` does the same.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from orion_lite_ros.cli.drive import drive_specs
from orion_lite_ros.cli.launch_actions import checkpoint_argument
from orion_lite_ros.ros.dds import dds_environment

_DDS_KEYS = ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE',
             'RMW_FASTRTPS_USE_QOS_FROM_XML')


def _truthy(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def _nodes(context, *args, **kwargs):
    config = LaunchConfiguration('config').perform(context)
    files = [f.strip() for f in config.split(',') if f.strip()] or None
    specs = drive_specs(LaunchConfiguration('profile').perform(context), files,
                        _truthy(LaunchConfiguration('use_sim_time').perform(context)),
                        checkpoint=LaunchConfiguration('checkpoint').perform(context))
    actions = []
    if _truthy(LaunchConfiguration('use_dds_profile').perform(context)):
        env = dds_environment(use_profile=True, base={})
        actions += [SetEnvironmentVariable(k, env[k]) for k in _DDS_KEYS if k in env]
    for spec in specs:
        actions.append(Node(package='orion_lite_ros', executable=spec.executable,
                            name=spec.executable, output='screen',
                            parameters=list(spec.params_files) + [dict(spec.parameters)],
                            remappings=list(spec.remappings.items())))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('config', default_value='',
                              description='comma-separated parameter YAMLs'),
        DeclareLaunchArgument('profile', default_value='sim',
                              description='sim | carla | autoware | path to a profile YAML'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        checkpoint_argument(),
        DeclareLaunchArgument('use_dds_profile', default_value='true',
                              description='loopback discovery + shared-memory Fast DDS profile'),
        OpaqueFunction(function=_nodes),
    ])
