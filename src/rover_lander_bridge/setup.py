from glob import glob

from setuptools import find_packages, setup

package_name = 'rover_lander_bridge'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Rover software team',
    maintainer_email='rover-software@example.com',
    description='Lander link, rover end: bridge core, loop, store and forward, node.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'lander_bridge_node = rover_lander_bridge.lander_bridge_node:main',
    ]},
)
