from setuptools import find_packages, setup

package_name = 'rover_ground'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    # Without ROS: pip install src/rover_common src/rover_link src/rover_ground.
    install_requires=['setuptools', 'rover_link', 'spacepackets==0.32.0'],
    zip_safe=True,
    maintainer='Rover software team',
    maintainer_email='rover-software@example.com',
    description='Lander link ground segment: ground station, rover-ground tool, link emulator.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'rover-ground = rover_ground.ground_cli:main',
        'rover-link-emulator = rover_ground.link_emulator:main',
    ]},
)
