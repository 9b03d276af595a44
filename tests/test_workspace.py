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
"""
Static checks of the workspace's ROS artifacts; they need no ROS and run everywhere.

They catch what a rover engineer would otherwise find only on the rover: a package.xml that
rosdep cannot use, a dependency imported but not declared, a launch file starting an executable
nobody installs, a console script pointing at a missing ``main``, a malformed XML/YAML file, or
ROS imports leaking into a ROS-free core module.
"""

import ast
from pathlib import Path
import re
import sys
from typing import Dict, Iterator, List, Set

from catkin_pkg.package import parse_package
from lxml import etree
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / 'src'
PACKAGE_DIRS = sorted(p.parent for p in SRC.glob('*/package.xml'))
PACKAGE_NAMES = {p.name for p in PACKAGE_DIRS}
PYTHON_PACKAGE_DIRS = [p for p in PACKAGE_DIRS if (p / 'setup.py').exists()]

#: Python module -> the rosdep key a package.xml must list to get it on Ubuntu 24.04 / Jazzy.
#: A third-party module missing here fails the check: add its key, do not silence it.
ROSDEP_KEYS: Dict[str, str] = {
    'numpy': 'python3-numpy',
    'cv2': 'python3-opencv',
    'serial': 'python3-serial',
    'yaml': 'python3-yaml',
    'transforms3d': 'python3-transforms3d',
    'cryptography': 'python3-cryptography',
    'pytest': 'python3-pytest',
    'hypothesis': 'python3-hypothesis',
    'lxml': 'python3-lxml',
    'dynamixel_sdk': 'dynamixel_sdk',
    'spacepackets': 'python3-spacepackets-pip',
    'cfdppy': 'python3-cfdp-py-pip',
    'simplejpeg': 'python3-simplejpeg-pip',
    'cobs': 'python3-cobs-pip',
    'xacro': 'xacro',
    'catkin_pkg': 'python3-catkin-pkg',
    'ament_index_python': 'ament_index_python',
    'ament_copyright': 'ament_copyright',
    'ament_flake8': 'ament_flake8',
    'ament_pep257': 'ament_pep257',
    'ament_xmllint': 'ament_xmllint',
    'launch': 'launch',
    'launch_ros': 'launch_ros',
    'launch_testing': 'launch_testing',
    'launch_testing_ros': 'launch_testing_ros',
    'rclpy': 'rclpy',
    'tf2_ros': 'tf2_ros_py',
    'setuptools': 'python3-setuptools',
}
#: Modules whose name is the ROS package name (message packages and our own packages).
ROS_PACKAGE_MODULE = re.compile(r'^([a-z0-9_]+_(msgs|srvs|interfaces)|rover_[a-z_]+)$')
#: Imports that make a file a ROS adapter: allowed only in *_node.py, launch and test files.
ROS_IMPORT = re.compile(
    r'^(rclpy|launch|launch_ros|launch_testing|launch_testing_ros|ament_index_python|tf2_ros'
    r'|rosidl_runtime_py|[a-z0-9_]+_(msgs|srvs)|rover_interfaces)$')


def _rel(path: Path, base: Path) -> str:
    """Name a parametrized file by its path below ``base`` (pytest calls this with NOTSET too)."""
    return str(path.relative_to(base)) if isinstance(path, Path) else str(path)


def _modules_imported(path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split('.')[0])
    return found


def _python_files(package_dir: Path) -> Iterator[Path]:
    for path in sorted(package_dir.rglob('*.py')):
        if not {'build', 'install', 'log', '__pycache__'} & set(path.relative_to(SRC).parts):
            yield path


def _is_adapter(path: Path) -> bool:
    return (path.name.endswith('_node.py') or 'launch' in path.parts or 'test' in path.parts
            or path.name == 'setup.py')


def _own_modules(package_dir: Path) -> Set[str]:
    return {p.parent.name for p in package_dir.glob('*/__init__.py')} | {
        p.stem for p in package_dir.glob('test/*.py')} | {'conftest'}


def _rosdep_key(module: str) -> str:
    if module in ROSDEP_KEYS:
        return ROSDEP_KEYS[module]
    if ROS_PACKAGE_MODULE.match(module):
        return module
    raise KeyError(module)


@pytest.fixture(params=PACKAGE_DIRS, ids=lambda p: p.name)
def package_dir(request) -> Path:
    return request.param


def test_the_workspace_has_its_packages():
    expected = {'rover_interfaces', 'rover_common', 'rover_description', 'rover_link',
                'rover_ground', 'rover_lander_bridge', 'rover_standalone'}
    assert expected <= PACKAGE_NAMES, f'missing packages: {expected - PACKAGE_NAMES}'


def test_package_xml_is_format_3_and_complete(package_dir):
    package = parse_package(str(package_dir / 'package.xml'))
    assert package.package_format == 3
    assert package.name == package_dir.name
    assert package.licenses == ['Apache-2.0']
    assert package.maintainers and package.description.strip()
    build_type = package.get_build_type()
    assert build_type == ('ament_python' if (package_dir / 'setup.py').exists()
                          else 'ament_cmake')


#: package.xml schema, checked offline: the linters' xml-model download needs a network, so
#: the package.xml files carry no xml-model line and the schema is checked here instead.
PACKAGE_SCHEMA = Path('/usr/share/ament_xmllint/xml-catalog/download.ros.org/schema/'
                      'package_format3.xsd')


@pytest.mark.skipif(not PACKAGE_SCHEMA.exists(),
                    reason=f'no local copy of the package.xml schema ({PACKAGE_SCHEMA}); '
                           'Debian ships it in python3-ament-xmllint')
def test_package_xml_follows_the_format_3_schema(package_dir):
    schema = etree.XMLSchema(etree.parse(str(PACKAGE_SCHEMA)))
    document = etree.parse(str(package_dir / 'package.xml'))
    assert schema.validate(document), str(schema.error_log)


def test_every_import_is_a_declared_dependency(package_dir):
    package = parse_package(str(package_dir / 'package.xml'))
    runtime = {d.name for d in package.exec_depends + package.build_export_depends}
    tests = runtime | {d.name for d in package.test_depends}
    stdlib = set(sys.stdlib_module_names)
    own = _own_modules(package_dir)
    missing: List[str] = []
    for path in _python_files(package_dir):
        if path.name == 'setup.py':
            continue
        declared = tests if 'test' in path.relative_to(package_dir).parts else runtime
        for module in sorted(_modules_imported(path) - stdlib - own - {package_dir.name}):
            try:
                key = _rosdep_key(module)
            except KeyError:
                missing.append(f'{path.relative_to(ROOT)}: {module} has no rosdep key in '
                               'tests/test_workspace.py ROSDEP_KEYS')
                continue
            if key not in declared:
                missing.append(f'{path.relative_to(ROOT)} imports {module}: '
                               f'add <{"test_" if declared is tests else "exec_"}depend>'
                               f'{key}</...> to package.xml')
    assert not missing, '\n'.join(missing)


def test_ros_imports_only_in_adapters(package_dir):
    leaks = []
    for path in _python_files(package_dir):
        if _is_adapter(path.relative_to(SRC)):
            continue
        ros = sorted(m for m in _modules_imported(path) if ROS_IMPORT.match(m))
        if ros:
            leaks.append(f'{path.relative_to(ROOT)} imports {", ".join(ros)}')
    assert not leaks, 'ROS imports outside *_node.py/launch/test files:\n' + '\n'.join(leaks)


def _setup_call(package_dir: Path) -> ast.Call:
    tree = ast.parse((package_dir / 'setup.py').read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, 'id', None) == 'setup']
    assert len(calls) == 1, 'setup.py must call setup() once'
    return calls[0]


def console_scripts(package_dir: Path) -> Dict[str, str]:
    """Return {script: 'module:function'} from the package's setup.py, read without running it."""
    call = _setup_call(package_dir)
    for keyword in call.keywords:
        if keyword.arg == 'entry_points':
            entry_points = ast.literal_eval(keyword.value)
            scripts = entry_points.get('console_scripts', [])
            return {s.split('=')[0].strip(): s.split('=')[1].strip() for s in scripts}
    return {}


@pytest.mark.parametrize('package_dir', PYTHON_PACKAGE_DIRS, ids=lambda p: p.name)
def test_python_package_layout(package_dir):
    name = package_dir.name
    assert (package_dir / 'resource' / name).is_file(), 'empty resource/<pkg> marker missing'
    cfg = (package_dir / 'setup.cfg').read_text()
    assert f'script_dir=$base/lib/{name}' in cfg and f'install_scripts=$base/lib/{name}' in cfg
    for linter in ('test_copyright.py', 'test_flake8.py', 'test_pep257.py'):
        assert (package_dir / 'test' / linter).is_file(), f'{linter} missing'
    assert (package_dir / name / '__init__.py').is_file()


@pytest.mark.parametrize('package_dir', PYTHON_PACKAGE_DIRS, ids=lambda p: p.name)
def test_entry_points_name_real_main_functions(package_dir):
    for script, target in console_scripts(package_dir).items():
        module, _, function = target.partition(':')
        path = package_dir.joinpath(*module.split('.')).with_suffix('.py')
        assert path.is_file(), f'{script}: {path} does not exist'
        tree = ast.parse(path.read_text())
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert function in functions, f'{script}: {module} defines no function {function}()'


#: The packages a ground station installs with pip, without ROS (docs/lander_link.md).
PIP_PACKAGES = ('rover_link', 'rover_ground')
#: Module -> the pip requirement providing it, for the modules those packages may import.
PIP_REQUIREMENTS = {'cryptography': 'cryptography', 'serial': 'pyserial', 'cobs': 'cobs',
                    'spacepackets': 'spacepackets', 'cfdppy': 'cfdp-py',
                    'rover_common': 'rover_common', 'rover_link': 'rover_link'}


def _install_requires(package_dir: Path) -> Set[str]:
    for keyword in _setup_call(package_dir).keywords:
        if keyword.arg == 'install_requires':
            return {re.split(r'[<>=!~ ]', r)[0] for r in ast.literal_eval(keyword.value)}
    return set()


@pytest.mark.parametrize('name', PIP_PACKAGES)
def test_the_ground_packages_install_with_pip_and_import_no_ros(name):
    package_dir = SRC / name
    requires = _install_requires(package_dir)
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for path in _python_files(package_dir):
        rel = path.relative_to(ROOT)
        if 'test' in path.relative_to(package_dir).parts or path.name == 'setup.py':
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.startswith('rover_common.'):
                # rover_common is a ROS package too: only its ROS-free modules may be used.
                used = SRC / 'rover_common' / Path(*node.module.split('.')).with_suffix('.py')
                if _modules_imported(used) - stdlib:
                    problems.append(f'{rel} imports {node.module}, which is not stdlib-only')
        for module in sorted(_modules_imported(path) - stdlib - {name}):
            if module not in PIP_REQUIREMENTS:
                problems.append(f'{rel} imports {module}, which pip cannot install without ROS')
            elif PIP_REQUIREMENTS[module] not in requires:
                problems.append(f'{rel} imports {module}: add {PIP_REQUIREMENTS[module]!r} to '
                                'install_requires in setup.py')
    assert not problems, '\n'.join(problems)


def _launch_files() -> List[Path]:
    return sorted(SRC.glob('*/launch/*.launch.py'))


def _string_kwargs(call: ast.Call) -> Dict[str, str]:
    return {k.arg: k.value.value for k in call.keywords
            if isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}


@pytest.mark.parametrize('launch_file', _launch_files(), ids=lambda p: p.name)
def test_launch_files_start_only_declared_executables(launch_file):
    package_dir = launch_file.parents[1]
    package = parse_package(str(package_dir / 'package.xml'))
    exec_depends = {d.name for d in package.exec_depends} | {package_dir.name}
    tree = ast.parse(launch_file.read_text())
    problems = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, 'id', getattr(call.func, 'attr', ''))
        kwargs = _string_kwargs(call)
        used = kwargs.get('package') if name in ('Node', 'LifecycleNode') else None
        if name == 'FindPackageShare' and call.args and isinstance(call.args[0], ast.Constant):
            used = call.args[0].value
        if used is None:
            continue
        if used not in exec_depends:
            problems.append(f'{launch_file.name} uses package {used}: add <exec_depend>')
        if name in ('Node', 'LifecycleNode') and used in PACKAGE_NAMES and 'executable' in kwargs:
            scripts = console_scripts(SRC / used) if (SRC / used / 'setup.py').exists() else {}
            if kwargs['executable'] not in scripts:
                problems.append(f'{launch_file.name}: {used} has no executable '
                                f'{kwargs["executable"]}')
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('launch_file', _launch_files(), ids=lambda p: p.name)
def test_launch_files_declare_their_arguments(launch_file):
    source = launch_file.read_text()
    tree = ast.parse(source)
    assert ast.get_docstring(tree), 'a launch file starts with a docstring saying what it starts'
    declared = set()
    used = set()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, 'id', getattr(call.func, 'attr', ''))
        if call.args and isinstance(call.args[0], ast.Constant):
            if name == 'DeclareLaunchArgument':
                declared.add(call.args[0].value)
                assert any(k.arg == 'description' for k in call.keywords), \
                    f'argument {call.args[0].value} has no description'
            elif name == 'LaunchConfiguration':
                used.add(call.args[0].value)
    assert used <= declared, f'LaunchConfiguration without DeclareLaunchArgument: ' \
        f'{sorted(used - declared)}'


def _xml_files() -> List[Path]:
    patterns = ('*.xml', '*.sdf', '*.urdf', '*.xacro', '*.world', '*.launch.xml')
    return sorted({p for pat in patterns for p in SRC.rglob(pat)})


@pytest.mark.parametrize('xml_file', _xml_files(), ids=lambda p: _rel(p, SRC))
def test_xml_is_well_formed(xml_file):
    etree.parse(str(xml_file))


def _yaml_files() -> List[Path]:
    return sorted(set(SRC.rglob('*.yaml')) | set(ROOT.glob('docker/*.yaml')))


@pytest.mark.parametrize('yaml_file', _yaml_files(), ids=lambda p: _rel(p, ROOT))
def test_yaml_parses(yaml_file):
    assert yaml.safe_load(yaml_file.read_text()) is not None


INTERFACE_LINE = re.compile(
    r'^(?P<type>[a-zA-Z][\w/]*(\[\d*\])?)\s+(?P<name>[a-zA-Z]\w*)(\s*=\s*(?P<const>.+))?$')
PRIMITIVES = {'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16',
              'int32', 'uint32', 'int64', 'uint64', 'string', 'wstring'}


def test_interface_files_are_listed_and_well_formed():
    package = SRC / 'rover_interfaces'
    cmake = (package / 'CMakeLists.txt').read_text()
    files = sorted(p.relative_to(package).as_posix()
                   for d in ('msg', 'srv', 'action') for p in (package / d).glob('*.*'))
    listed = sorted(re.findall(r'"((?:msg|srv|action)/\w+\.\w+)"', cmake))
    assert files == listed, 'CMakeLists.txt and the msg/srv/action files disagree'
    own = {Path(f).stem for f in files if f.startswith('msg/')}
    for name in files:
        sections = 0
        for number, raw in enumerate((package / name).read_text().splitlines(), 1):
            line = raw.split('#')[0].strip() if '="' not in raw else raw.strip()
            if not line:
                continue
            if line == '---':
                sections += 1
                continue
            match = INTERFACE_LINE.match(line)
            assert match, f'{name}:{number}: cannot parse {raw!r}'
            base = re.sub(r'\[\d*\]$', '', match['type'])
            if match['const'] is not None:
                assert base in PRIMITIVES and match['name'].isupper(), \
                    f'{name}:{number}: constants are primitive and UPPER_CASE'
            elif '/' not in base:
                assert base in PRIMITIVES or base in own, f'{name}:{number}: unknown type {base}'
        expected = {'msg': 0, 'srv': 1, 'action': 2}[name.split('/')[0]]
        assert sections == expected, f'{name}: {sections} separators, expected {expected}'


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / 'README.md').read_text()
    ci = (ROOT / '.ci' / 'run').read_text()
    commands = re.findall(r'^\s*(\./tools/\S+)', ci, flags=re.M)
    assert commands, '.ci/run must call the README test command'
    for command in commands:
        assert command in readme, f'.ci/run calls {command}, which the README does not give'
