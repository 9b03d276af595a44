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
The ground's CFDP filestore: downlinked files land under one directory, never elsewhere.

A destination name from a Metadata PDU is checked with the rule the rover's queue applies
when a downlink is requested (:func:`rover_link.cfdp.downlink_queue.check_dest_name`), so a
name the rover would refuse is refused here too, whoever sent it.
"""

from pathlib import Path
from typing import Optional, Union

from cfdppy.filestore import NativeFilestore
from rover_link.cfdp.downlink_queue import check_dest_name, InvalidDownlinkRequest
from spacepackets.cfdp import ChecksumType, FilestoreResponseStatusCode


class DownlinkFilestore(NativeFilestore):
    """
    The ground's filestore: names from Metadata PDUs map under one directory, as ``.part``.

    A name that is absolute or climbs out (``..``) raises PermissionError, which cfdp-py turns
    into a FILESTORE_REJECTION fault. Files are written as ``<name>.part`` and renamed by the
    receiver once verified, so nothing half-written ever carries the final name.
    """

    PART_SUFFIX = '.part'

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def final_path(self, name: Union[str, Path]) -> Path:
        try:
            return self.root / check_dest_name(Path(name).as_posix())
        except InvalidDownlinkRequest as error:
            raise PermissionError(str(error)) from error

    def part_path(self, name: Union[str, Path]) -> Path:
        final = self.final_path(name)
        return final.with_name(final.name + self.PART_SUFFIX)

    def is_directory(self, path: Path) -> bool:
        self.final_path(path)
        return False

    def file_exists(self, path: Path) -> bool:
        return super().file_exists(self.part_path(path))

    def file_size(self, file: Path) -> int:
        return super().file_size(self.part_path(file))

    def truncate_file(self, file: Path) -> None:
        super().truncate_file(self.part_path(file))

    def create_file(self, file: Path):
        return super().create_file(self.part_path(file))

    def delete_file(self, file: Path):
        try:
            return super().delete_file(self.part_path(file))
        except PermissionError:
            # Called by cfdp-py after the name was rejected: there is nothing to delete.
            return FilestoreResponseStatusCode.DELETE_NOT_ALLOWED

    def write_data(self, file: Path, data: bytes, offset: Optional[int]) -> None:
        super().write_data(self.part_path(file), data, offset)

    def read_data(self, file: Path, offset: Optional[int],
                  read_len: Optional[int] = None) -> bytes:
        return super().read_data(self.part_path(file), offset, read_len)

    def calculate_checksum(self, checksum_type: ChecksumType, file_path: Path,
                           size_to_verify: int, segment_len: int = 4096) -> bytes:
        return super().calculate_checksum(checksum_type, self.part_path(file_path),
                                          size_to_verify, segment_len)
