"""ament_python package: orion_lite_ros (also pip-installable for a ROS-less venv)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'orion_lite_ros'

# (executable, module:function). One node per file under orion_lite_ros/nodes/.
CONSOLE_SCRIPTS = [
    ('planner_node', 'orion_lite_ros.nodes.planner_node:main'),
    ('controller_node', 'orion_lite_ros.nodes.controller_node:main'),
    ('bridge_node', 'orion_lite_ros.nodes.bridge_node:main'),
    ('orion-lite-drive', 'orion_lite_ros.cli.drive:main'),
    ('orion-lite-demo', 'orion_lite_ros.cli.demo:main'),
    ('orion-lite-replay', 'orion_lite_ros.cli.replay:main'),
    ('orion-lite-train', 'orion_lite_ros.cli.train:main'),
    ('orion-lite-bench', 'orion_lite_ros.cli.bench:main'),
    ('orion-lite-convert', 'orion_lite_ros.cli.convert:main'),
    ('orion-lite-datagen', 'orion_lite_ros.cli.datagen:main'),
    ('orion-lite-teacher', 'orion_lite_ros.cli.teacher:main'),
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['data/*.json', 'data/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + PACKAGE + '/config/profiles', glob('config/profiles/*.yaml')),
        ('share/' + PACKAGE + '/config/topic_maps', glob('config/topic_maps/*.yaml')),
        ('share/' + PACKAGE + '/checkpoints/mini_embedded', glob('checkpoints/mini_embedded/*')),
        ('share/' + PACKAGE + '/checkpoints/mini_embedded_lights',
         glob('checkpoints/mini_embedded_lights/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='orion_lite_ros developers',
    maintainer_email='orion-lite-ros@example.org',
    description='Orion-Lite vision-only end-to-end driving planner for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [f'{name} = {target}' for name, target in CONSOLE_SCRIPTS],
    },
)
