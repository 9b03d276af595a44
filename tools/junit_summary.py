#!/usr/bin/env python3
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
Add up JUnit XML reports (pytest, colcon test) into one closing line.

The test command runs each package's suite on its own, as colcon does; this prints the total
as ``total: N passed, N failed, N skipped`` so a reader (or CI) sees one verdict, and exits
non-zero when any test failed or errored, or when no test ran at all.
"""

import argparse
from pathlib import Path
import sys
from typing import Iterable, Tuple
import xml.etree.ElementTree as ElementTree


def count(reports: Iterable[Path]) -> Tuple[int, int, int]:
    """Return (passed, failed, skipped) over every <testcase> of the reports."""
    passed = failed = skipped = 0
    for report in reports:
        for case in ElementTree.parse(report).iter('testcase'):
            tags = {child.tag for child in case}
            if tags & {'failure', 'error'}:
                failed += 1
            elif 'skipped' in tags:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def main() -> int:
    """Print the total of the JUnit reports given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('reports', nargs='*', type=Path)
    args = parser.parse_args()
    passed, failed, skipped = count(p for p in args.reports if p.is_file())
    print(f'total: {passed} passed, {failed} failed, {skipped} skipped')
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
