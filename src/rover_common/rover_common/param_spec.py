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
Declarative parameter tables: one spec per parameter, pure validators that return a reason.

Every rover node declares its parameters from a table of :class:`ParamSpec`. The node layer
turns each spec into a ROS ``ParameterDescriptor`` (with range, unit and read-only flag), and
the same table validates values in plain pytest, so a bad value is refused with the same reason
everywhere, and a rejected set changes nothing.
"""

from dataclasses import dataclass, field
import math
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

ParamValue = Union[bool, int, float, str, Sequence[float], Sequence[str]]
CrossCheck = Callable[[Mapping[str, ParamValue]], Optional[str]]


class ParameterError(ValueError):
    """A parameter value was refused; the message says why and names the valid set."""


@dataclass(frozen=True)
class ParamSpec:
    """
    One parameter: its name, default, unit, allowed range or choices and description.

    ``min_value``/``max_value`` bound a number (inclusive), or every element of a float list.
    ``choices`` restricts a string. ``read_only`` parameters can only be set at start-up.
    """

    name: str
    default: ParamValue
    description: str
    unit: str = ''
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    choices: Sequence[str] = field(default_factory=tuple)
    read_only: bool = False

    def __post_init__(self) -> None:
        """Refuse a spec whose own default breaks it: the table is code and must be right."""
        reason = self.check(self.default)
        if reason is not None:
            raise ParameterError(f'default of {self.name}: {reason}')

    @property
    def full_description(self) -> str:
        """Return the description with its unit, as shown by ``ros2 param describe``."""
        return f'{self.description} [{self.unit}]' if self.unit else self.description

    def markdown_row(self) -> str:
        """
        Return this parameter's row of the tables in docs/interfaces.md.

        The docs are checked against it, so the spec stays their one source of truth.
        """
        kind = {bool: 'bool', int: 'int', float: 'double', str: 'string'}.get(
            type(self.default), 'double[]')
        default = str(self.default).lower() if isinstance(self.default, bool) else \
            repr(self.default)
        if self.choices:
            allowed = 'one of ' + ', '.join(self.choices)
        elif self.min_value is not None or self.max_value is not None:
            allowed = f'{self.min_value:g} .. {self.max_value:g}'
        else:
            allowed = ''
        text = self.description + (' (read-only)' if self.read_only else '')
        return f'| `{self.name}` | {kind} | `{default}` | {self.unit} | {allowed} | {text} |'

    def check(self, value: ParamValue) -> Optional[str]:
        """
        Return why ``value`` is not acceptable for this parameter, or None when it is.

        :param value: a candidate value, as it would come from YAML or ``ros2 param set``.
        """
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(self.default, (list, tuple)):
            if not isinstance(value, (list, tuple)):
                return f'{self.name} must be a list, got {value!r}'
            numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if len(numbers) == len(value):
                return self._check_range_all(numbers)
            return None
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            return f'{self.name} must be of type {expected.__name__}, got {value!r}'
        if isinstance(value, str):
            if self.choices and value not in self.choices:
                return f'{self.name} must be one of {", ".join(self.choices)}; got {value!r}'
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._check_range_all([value])
        return None

    def _check_range_all(self, values: Sequence[float]) -> Optional[str]:
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                return f'{self.name} must be finite, got {v!r}'
            if self.min_value is not None and v < self.min_value:
                return f'{self.name} must be >= {self.min_value} {self.unit}, got {v!r}'.replace(
                    '  ', ' ')
            if self.max_value is not None and v > self.max_value:
                return f'{self.name} must be <= {self.max_value} {self.unit}, got {v!r}'.replace(
                    '  ', ' ')
        return None


class ParamTable:
    """
    The parameters of one node, with a check across them (e.g. ``accel <= max_accel``).

    :param specs: the parameters, names unique.
    :param cross_check: called with the complete candidate value set; returns a reason to
        refuse it or None. It sees old values merged with the proposed changes, so a set of
        several parameters is judged as a whole.
    """

    def __init__(self, specs: Iterable[ParamSpec], *,
                 cross_check: Optional[CrossCheck] = None) -> None:
        self._specs = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ParameterError(f'duplicate parameter {spec.name}')
            self._specs[spec.name] = spec
        self._cross_check = cross_check
        reason = self._cross(self.defaults())
        if reason is not None:
            raise ParameterError(f'defaults: {reason}')

    def __iter__(self):
        """Iterate over the specs in declaration order."""
        return iter(self._specs.values())

    def __getitem__(self, name: str) -> ParamSpec:
        """Return the spec of ``name``; KeyError names the known parameters."""
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(
                f'unknown parameter {name!r}; known: {", ".join(sorted(self._specs))}') from None

    def defaults(self) -> dict:
        """Return the default value of every parameter."""
        return {name: spec.default for name, spec in self._specs.items()}

    def check_changes(self, current: Mapping[str, ParamValue],
                      changes: Mapping[str, ParamValue], *, at_startup: bool = False
                      ) -> Optional[str]:
        """
        Return why applying ``changes`` to ``current`` must be refused, or None.

        :param current: the values in force.
        :param changes: the proposed new values (a subset of names).
        :param at_startup: read-only parameters may be set only at start-up.
        """
        for name, value in changes.items():
            if name not in self._specs:
                return f'unknown parameter {name!r}'
            spec = self._specs[name]
            if spec.read_only and not at_startup:
                return f'{name} is read-only; set it at start-up'
            reason = spec.check(value)
            if reason is not None:
                return reason
        merged = dict(current)
        merged.update(changes)
        return self._cross(merged)

    def validated(self, overrides: Mapping[str, ParamValue]) -> dict:
        """
        Return defaults merged with ``overrides``, or raise ParameterError with the reason.

        This is how a ROS-free core is configured from a dict (tests, the standalone rover).
        """
        reason = self.check_changes(self.defaults(), overrides, at_startup=True)
        if reason is not None:
            raise ParameterError(reason)
        merged = self.defaults()
        merged.update(overrides)
        return merged

    def _cross(self, values: Mapping[str, ParamValue]) -> Optional[str]:
        return self._cross_check(values) if self._cross_check is not None else None
