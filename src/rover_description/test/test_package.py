# Copyright 2026 The Rover Software Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The package around the model: manifest, install rules, environment hook, XML files."""

import ast
from pathlib import Path
import re
import sys

from catkin_pkg.package import parse_package
from description_model import expand, PACKAGE_DIR, PACKAGE_NAME
from lxml import etree
import pytest

# Third-party modules the package's Python files import, and the rosdep key providing each.
MODULE_KEYS = {
    'ament_copyright': 'ament_copyright',
    'ament_flake8': 'ament_flake8',
    'ament_pep257': 'ament_pep257',
    'ament_xmllint': 'ament_xmllint',
    'catkin_pkg': 'python3-catkin-pkg',
    'lxml': 'python3-lxml',
    'numpy': 'python3-numpy',
    'pytest': 'python3-pytest',
    'xacro': 'xacro',
    'yaml': 'python3-yaml',
}
LOCAL_MODULES = {'description_model', 'generate_assets'}
LINTER_TESTS = {'test_copyright', 'test_flake8', 'test_pep257', 'test_xmllint'}
XML_SUFFIXES = ('.xml', '.xacro', '.sdf', '.urdf')


@pytest.fixture(scope='module')
def manifest():
    return parse_package(str(PACKAGE_DIR / 'package.xml'))


@pytest.fixture(scope='module')
def cmake_text():
    return (PACKAGE_DIR / 'CMakeLists.txt').read_text()


def test_manifest_is_format_3_ament_cmake(manifest):
    manifest.validate()
    assert manifest.package_format == 3
    assert manifest.name == PACKAGE_NAME
    assert manifest.get_build_type() == 'ament_cmake'
    assert [d.name for d in manifest.buildtool_depends] == ['ament_cmake']


def test_runtime_needs_no_gazebo(manifest):
    # robot_state_publisher, ros_gz_sim and ros_gz_bridge are started by rover_bringup, which
    # depends on them; the description must stay installable on the rover without Gazebo.
    # numpy is for scripts/generate_assets.py.
    assert {d.name for d in manifest.exec_depends} == {'xacro', 'python3-numpy'}


def test_ament_lint_auto_has_its_linters(manifest):
    tests = {d.name for d in manifest.test_depends}
    assert {'ament_lint_auto', 'ament_cmake_pytest', 'ament_cmake_copyright',
            'ament_cmake_flake8', 'ament_cmake_pep257', 'ament_cmake_xmllint'} <= tests


def imported_modules(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split('.')[0]


def test_every_imported_module_is_a_declared_dependency(manifest):
    declared = {d.name for d in manifest.test_depends + manifest.exec_depends}
    python_files = sorted(PACKAGE_DIR.rglob('*.py'))
    assert python_files
    for path in python_files:
        for module in imported_modules(path):
            if module in sys.stdlib_module_names or module in LOCAL_MODULES:
                continue
            assert module in MODULE_KEYS, '%s imports %s: add its rosdep key' % (path, module)
            assert MODULE_KEYS[module] in declared, '%s needs <test_depend>%s' % (
                path.name, MODULE_KEYS[module])


def test_exports_the_share_directory_for_ros_gz_sim(manifest):
    exports = [e for e in manifest.exports if e.tagname == 'gazebo_ros']
    assert exports and exports[0].attributes['gazebo_model_path'] == '${prefix}/..'


def installed_directories(cmake_text):
    block = re.search(r'install\(\s*DIRECTORY(.*?)DESTINATION share/\$\{PROJECT_NAME\}',
                      cmake_text, re.S)
    assert block, 'CMakeLists.txt installs the asset directories to share/<package>'
    return set(block.group(1).split())


def test_every_asset_directory_is_installed(cmake_text):
    installed = installed_directories(cmake_text)
    for name in installed:
        assert (PACKAGE_DIR / name).is_dir(), name
    assets = {'config', 'meshes', 'urdf', 'worlds'}
    assert assets <= installed
    assert {'rviz', 'launch'}.isdisjoint(installed), 'launch and RViz belong to rover_bringup'


def test_every_test_file_is_registered_with_ament_cmake_pytest(cmake_text):
    block = re.search(r'set\(_pytest_tests(.*?)\)', cmake_text, re.S)
    registered = set(block.group(1).split())
    tests = {p.stem for p in (PACKAGE_DIR / 'test').glob('test_*.py')}
    assert registered == tests - LINTER_TESTS
    assert 'ament_lint_auto_find_test_dependencies()' in cmake_text


def hook_paths(cmake_text):
    match = re.search(r'ament_environment_hooks\("\$\{CMAKE_CURRENT_SOURCE_DIR\}/([^"]+)"\)',
                      cmake_text)
    assert match, 'an environment hook is registered'
    hook = PACKAGE_DIR / match.group(1).replace('${PROJECT_NAME}', PACKAGE_NAME)
    assert hook.is_file() and hook.name.endswith('.dsv.in')
    paths = []
    for line in hook.read_text().splitlines():
        kind, variable, value = line.split(';')
        assert kind == 'prepend-non-duplicate'
        assert variable == 'GZ_SIM_RESOURCE_PATH'
        assert not value.startswith('/'), 'relative to the install prefix: relocatable'
        paths.append(value.replace('@PROJECT_NAME@', PACKAGE_NAME))
    return paths


def installed_file(prefix_relative: Path, cmake_text):
    """Map <prefix>/share/rover_description/<dir>/... to its source, if <dir> is installed."""
    parts = prefix_relative.parts
    if parts[:2] != ('share', PACKAGE_NAME) or len(parts) < 4:
        return None
    if parts[2] not in installed_directories(cmake_text):
        return None
    return PACKAGE_DIR.joinpath(*parts[2:])


def test_hook_lets_gz_sim_resolve_every_mesh_uri(cmake_text):
    paths = hook_paths(cmake_text)
    assert 'share' in paths
    uris = [m.get('filename') for m in expand('gazebo').iter('mesh')]
    assert uris
    for uri in uris:
        # gz-common strips the scheme and tries the rest below each resource path.
        suffix = uri.split('://', 1)[1]
        found = [installed_file(Path(p) / suffix, cmake_text) for p in paths]
        assert any(f is not None and f.is_file() for f in found), uri


def test_hook_lets_gz_sim_find_the_world_by_name(cmake_text):
    found = [installed_file(Path(p) / 'lunar.sdf', cmake_text) for p in hook_paths(cmake_text)]
    assert any(f is not None and f.is_file() for f in found)


def test_every_xml_file_is_well_formed():
    files = [p for p in PACKAGE_DIR.rglob('*') if p.suffix in XML_SUFFIXES]
    assert len(files) >= 5
    for path in files:
        etree.parse(str(path))
