"""DDS environment for our launchers, CLIs and tests (loopback-only discovery, SHM profile)."""
import os
from pathlib import Path
from typing import Dict, Mapping, Optional

from orion_lite_ros.paths import config_file

PROFILE_FILENAME = 'fastdds_loopback.xml'


def profile_path() -> Path:
    """The shipped Fast DDS profile: source tree first, then the ament share directory."""
    return config_file(PROFILE_FILENAME)


def dds_environment(use_profile: bool = True, domain_id: Optional[int] = None,
                    base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment variables confining DDS to this machine, optionally with the SHM profile.

    Returns a full copy of ``base`` (default: ``os.environ``) with the variables set.
    """
    env = dict(os.environ if base is None else base)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    if use_profile:
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile_path())
        env['RMW_FASTRTPS_USE_QOS_FROM_XML'] = '0'
    else:
        env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    if domain_id is not None:
        env['ROS_DOMAIN_ID'] = str(int(domain_id))
    return env


def apply_dds_environment(use_profile: bool = True, domain_id: Optional[int] = None) -> None:
    """Set the variables in this process (call before rclpy.init())."""
    os.environ.update(dds_environment(use_profile, domain_id))
