from setuptools import find_packages, setup

package_name = 'rover_link'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    # Without ROS, pip installs these (the versions the tests pin, requirements-test.txt);
    # rover_common is the workspace package: pip install src/rover_common beside this one.
    install_requires=['setuptools', 'rover_common', 'cryptography>=41', 'pyserial>=3.5',
                      'cobs>=1.2', 'spacepackets==0.32.0', 'cfdp-py==0.7.0'],
    zip_safe=True,
    maintainer='Rover software team',
    maintainer_email='rover-software@example.com',
    description='Lander link protocol: authenticated PUS TC/TM, CFDP files, transports.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': []},
)
