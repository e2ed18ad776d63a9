"""Closed loop in the embedded simulator: bridge_node + planner_node + controller_node.

    ros2 launch orion_lite_ros sim.launch.py
    ros2 launch orion_lite_ros sim.launch.py driver:=expert output_dir:=out/expert
    ros2 launch orion_lite_ros sim.launch.py checkpoint:=/models/orion_lite_mini num_routes:=3

Arguments: bridge_config (bridge YAML, default config/bridge.yaml), driver (stack | expert),
routes, num_routes, max_steps_per_route, output_dir, checkpoint (planner; default: the shipped
student; '' = random weights), record_bag (mcap dir), use_dds_profile. The planner and
controller come from the `sim` profile with use_sim_time. The launch ends when the bridge has
driven its routes (exit 0; a failing bridge fails the launch); Ctrl-C stops every node within
the SIGINT grace period, the routes finished so far stay in results.json.
Without `launch`: `orion-lite-demo` (or `orion-lite-drive --profile sim --use-sim-time` next to
`ros2 run orion_lite_ros bridge_node`).
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
BACKEND = 'embedded'


def _arg(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context)


def _truthy(text: str) -> bool:
    return text.strip().lower() in ('1', 'true', 'yes', 'on')


def bridge_overrides(context) -> dict:
    routes = [r.strip() for r in _arg(context, 'routes').split(',') if r.strip()] or ['']
    return {'backend': BACKEND, 'driver': _arg(context, 'driver'), 'routes': routes,
            'num_routes': int(_arg(context, 'num_routes')),
            'max_steps_per_route': int(_arg(context, 'max_steps_per_route')),
            'output_dir': _arg(context, 'output_dir'), 'record_bag': _arg(context, 'record_bag'),
            'use_sim_time': False}


def _nodes(context, *args, **kwargs):
    actions = []
    if _truthy(_arg(context, 'use_dds_profile')):
        env = dds_environment(use_profile=True, base={})
        actions += [SetEnvironmentVariable(k, env[k]) for k in _DDS_KEYS if k in env]
    actions.append(SetEnvironmentVariable('MUJOCO_GL', 'egl'))
    bridge_yaml = _arg(context, 'bridge_config') or str(config_dir() / 'bridge.yaml')
    bridge = Node(package='orion_lite_ros', executable='bridge_node', name='bridge_node',
                  output='screen', parameters=[bridge_yaml, bridge_overrides(context)])
    actions += [bridge, end_with_bridge(bridge)]
    if _arg(context, 'driver') == 'expert':
        return actions
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
        DeclareLaunchArgument('bridge_config', default_value=''),
        DeclareLaunchArgument('driver', default_value='stack', description='stack | expert'),
        DeclareLaunchArgument('num_routes', default_value='0'),
        DeclareLaunchArgument('routes', default_value='',
                              description="route ids, comma-separated ('' = held-out routes)"),
        DeclareLaunchArgument('max_steps_per_route', default_value='0',
                              description='0 = each route to its end'),
        DeclareLaunchArgument('output_dir', default_value='out/sim'),
        checkpoint_argument(),
        DeclareLaunchArgument('record_bag', default_value=''),
        DeclareLaunchArgument('use_dds_profile', default_value='true'),
        OpaqueFunction(function=_nodes),
    ])
