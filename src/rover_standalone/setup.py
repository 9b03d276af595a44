from setuptools import find_packages, setup

package_name = 'rover_standalone'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Rover software team',
    maintainer_email='rover-software@example.com',
    description='The rover without ROS (fake hardware behind the bridge core) and the demo.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'rover-standalone = rover_standalone.standalone_rover:main',
        'rover-demo = rover_standalone.demo:main',
    ]},
)
