"""Actions shared by the launch files (``launch`` / ``launch_ros`` imported inside functions:
this module imports without them).

- ``checkpoint_argument``: the same ``checkpoint`` launch argument everywhere, defaulting to
  the shipped student (``default``);
- ``end_with_bridge``: when the bridge exits the whole launch ends. Exit code 0 -> a clean
  Shutdown (``ros2 launch`` returns 0); any other code -> the launch fails with a line naming
  the bridge's code (``ros2 launch`` returns 1: launch has no way to return a child's code).
"""
from orion_lite_ros.cli.drive import DEFAULT_CHECKPOINT

CHECKPOINT_HELP = ("planner weights: 'default' = the shipped student "
                   "(config/default_checkpoint.yaml), a checkpoint path, or '' for random "
                   'weights (tests only)')


def checkpoint_argument():
    from launch.actions import DeclareLaunchArgument
    return DeclareLaunchArgument('checkpoint', default_value=DEFAULT_CHECKPOINT,
                                 description=CHECKPOINT_HELP)


class BridgeFailed(RuntimeError):
    """The bridge exited with a non-zero code; the launch fails with this message."""


def on_bridge_exit(event, context):
    """OnProcessExit handler of the bridge: end the launch, failing it on a non-zero code."""
    from launch.actions import EmitEvent, LogInfo
    from launch.events import Shutdown
    code = event.returncode
    if code != 0:
        raise BridgeFailed(f'bridge_node exited with code {code}; launch stopped')
    return [LogInfo(msg='bridge_node finished its routes (exit code 0); stopping the launch'),
            EmitEvent(event=Shutdown(reason='bridge_node finished'))]


def end_with_bridge(bridge_action):
    """RegisterEventHandler: the launch ends when ``bridge_action`` (a launch_ros Node) exits."""
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    return RegisterEventHandler(OnProcessExit(target_action=bridge_action,
                                              on_exit=on_bridge_exit))
