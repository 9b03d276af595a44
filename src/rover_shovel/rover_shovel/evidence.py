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
The sample evidence package: what the customer pays for, as one JSON product.

It names the images of the collected material (capture product ids, checked to be in the
store), says when (UTC) and where (rover pose) the sample was taken, the shovel state and
fill estimate, and which commands caused it. It is written to the product store (kind
EVIDENCE, suffix ``.json``) so it survives a reboot and is downlinked like any product.
Schema ``rover_shovel.evidence/1`` (docs/interfaces.md, shovel section).
"""

from dataclasses import dataclass
import datetime
import json
import math
from typing import Any, Dict, Optional, Sequence, Tuple

from rover_common.product_store import ProductKind, StoreError

from rover_shovel.fill import FillEstimate
from rover_shovel.ports import ProductSink, RoverPose

SCHEMA = 'rover_shovel.evidence/1'
SUFFIX = '.json'


class EvidenceError(RuntimeError):
    """The evidence package could not be completed or stored; nothing half-written stays."""


@dataclass(frozen=True)
class PhaseRecord:
    """One phase of the sequence as it ran: name, start (UTC s) and duration (s)."""

    phase: str
    start_utc: float
    duration: float


@dataclass(frozen=True)
class Evidence:
    """
    Everything the package records.

    :param utc: time of the capture, UTC seconds since the epoch.
    :param command_ids: ids of the commands that caused it, the requesting one first.
    :param image_product_ids: the images of the collected material.
    :param rover_pose: rover pose at the capture, or None when unknown.
    :param shovel_angle: joint angle at the capture (rad).
    :param shovel_current: joint current at the capture (A).
    :param fill: the fill estimate from the lift.
    :param dig_distance_requested: creep distance asked for (m, magnitude).
    :param dig_distance_travelled: creep distance the drive reported (m, signed).
    :param dig_angle: joint angle while digging (rad).
    :param phases: the phases so far.
    """

    utc: float
    command_ids: Tuple[str, ...]
    image_product_ids: Tuple[str, ...]
    rover_pose: Optional[RoverPose]
    shovel_angle: float
    shovel_current: float
    fill: FillEstimate
    dig_distance_requested: float
    dig_distance_travelled: float
    dig_angle: float
    phases: Tuple[PhaseRecord, ...] = ()


def utc_iso(stamp: float) -> str:
    """Return ``stamp`` (UTC epoch s) as ISO 8601 with milliseconds and a Z."""
    when = datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc)
    return when.strftime('%Y-%m-%dT%H:%M:%S.') + f'{when.microsecond // 1000:03d}Z'


def _number(value: float) -> Optional[float]:
    """Return a JSON-safe number: NaN and infinities become null."""
    return value if math.isfinite(value) else None


def evidence_document(evidence: Evidence) -> Dict[str, Any]:
    """Return the package as a JSON-ready dict (keys documented in docs/interfaces.md)."""
    fill = evidence.fill
    return {
        'schema': SCHEMA,
        'utc': utc_iso(evidence.utc),
        'utc_epoch_s': evidence.utc,
        'command_ids': list(evidence.command_ids),
        'image_product_ids': list(evidence.image_product_ids),
        'rover_pose': evidence.rover_pose.as_dict() if evidence.rover_pose else None,
        'shovel': {'joint': 'shovel_joint', 'angle_rad': _number(evidence.shovel_angle),
                   'current_a': _number(evidence.shovel_current)},
        'fill_estimate': {'mass_kg': _number(fill.mass_kg), 'sigma_kg': _number(fill.sigma_kg),
                          'samples': fill.samples,
                          'method': 'lift current vs empty-shovel baseline (rover_shovel.fill)'},
        'dig': {'distance_requested_m': evidence.dig_distance_requested,
                'distance_travelled_m': evidence.dig_distance_travelled,
                'angle_rad': evidence.dig_angle},
        'phases': [{'phase': p.phase, 'start_utc': utc_iso(p.start_utc),
                    'duration_s': round(p.duration, 3)} for p in evidence.phases],
    }


def encode(document: Dict[str, Any]) -> bytes:
    """Return the document as UTF-8 JSON (sorted keys, no NaN)."""
    return (json.dumps(document, sort_keys=True, indent=1, allow_nan=False) + '\n').encode()


def write_evidence(sink: ProductSink, evidence: Evidence) -> str:
    """
    Check the images are stored, then store the package; return its product id.

    :raises EvidenceError: no image, an image not in this store (the cameras write to
        another ``product_dir``), or the store refused the package (full, I/O).
    """
    if not evidence.image_product_ids:
        raise EvidenceError('no image was captured; an evidence package needs images')
    missing = []
    for product_id in evidence.image_product_ids:
        try:
            sink.get(product_id)
        except StoreError:
            missing.append(product_id)
    if missing:
        raise EvidenceError(f'images {", ".join(missing)} are not in the product store; the '
                            'cameras and the shovel must share product_dir')
    document = evidence_document(evidence)
    metadata = {'command_id': evidence.command_ids[0] if evidence.command_ids else '',
                'command_ids': list(evidence.command_ids),
                'image_product_ids': list(evidence.image_product_ids),
                'fill_estimate_kg': _number(evidence.fill.mass_kg),
                'fill_estimate_sigma_kg': _number(evidence.fill.sigma_kg)}
    if evidence.rover_pose is not None:
        metadata['pose'] = evidence.rover_pose.as_dict()
    try:
        product = sink.put(encode(document), kind=ProductKind.EVIDENCE, suffix=SUFFIX,
                           stamp=evidence.utc, metadata=metadata)
    except StoreError as err:
        raise EvidenceError(f'the product store refused the evidence package: {err}') from err
    return product.id


def image_ids_in_order(ids: Sequence[str]) -> Tuple[str, ...]:
    """Return the capture ids as a tuple, refusing empty or duplicate ids."""
    seen = []
    for product_id in ids:
        if not product_id or product_id in seen:
            raise EvidenceError(f'bad image id list from the capture: {list(ids)!r}')
        seen.append(product_id)
    return tuple(seen)
