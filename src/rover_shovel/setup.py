from setuptools import find_packages, setup

package_name = 'rover_shovel'

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
    description='Back-mounted shovel: joint control, faults, drive interlock and the regolith '
                'sample collection with its evidence package.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'shovel_node = rover_shovel.shovel_node:main',
    ]},
)
