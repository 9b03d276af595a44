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

"""Products: listing the catalog and downlinking files over CFDP beside the telemetry."""

import hashlib
import os

from conftest import Rig
import pytest
from rover_common.product_store import DownlinkState, ProductKind, ProductStore
from rover_ground.ground import EventReport, FileDone, Housekeeping
from rover_lander_bridge.bridge import BridgeConfig
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileReceiver, FileSender
from rover_link.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, ErrorCode, EventId,
                                 HkSet, Variant, VerificationSubtype as V)
from rover_link.telemetry import DownlinkResult

CONFIG = BridgeConfig(downlink_rate_bps=400_000.0, link_timeout=30.0, safing_timeout=120.0)
CFDP = CfdpConfig(ack_timer_s=3.0, nak_timer_s=3.0, inactivity_s=60.0, max_pdu_len=1018)


@pytest.fixture
def store(tmp_path):
    with ProductStore(tmp_path / 'products', budget_bytes=50 << 20) as products:
        yield products


@pytest.fixture
def files_rig(tmp_path, mac, store):
    sender = FileSender(tmp_path / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID, config=CFDP)
    receiver = FileReceiver(tmp_path / 'ground-files', local_entity_id=CFDP_GROUND_ENTITY_ID,
                            remote_entity_id=CFDP_ROVER_ENTITY_ID, config=CFDP)
    rig = Rig(tmp_path, mac, config=CONFIG, products=store, files=sender, receiver=receiver)
    rig.send(cmd.Ping())
    yield rig
    rig.bridge.close()
    sender.close()


def put_image(store, stamp=1.8e9, size=60_000, camera='left'):
    image, thumb = store.put_with_thumbnail(os.urandom(size), os.urandom(size // 20),
                                            suffix='.jpg', stamp=stamp, camera=camera)
    return image, thumb


def test_list_products_reports_the_catalog_in_parts(files_rig, store):
    ids = [put_image(store, stamp=1.8e9 + i)[0].id for i in range(5)]
    request_id = files_rig.send(cmd.ListProducts(False, 0))
    status = files_rig.status(request_id)
    assert status.completed
    entries = status.product_entries
    assert len(entries) == 10 and status.products[1].total == 10
    assert len(status.products) == 2
    listed = [e.product_id for e in entries if e.kind == ProductKind.IMAGE]
    assert listed == list(reversed(ids))
    thumb_of = {e.product_id: e.related_id for e in entries}
    assert all(thumb_of[i].startswith('thm-') for i in ids)


def test_full_image_and_thumbnail_arrive_byte_identical(files_rig, store, tmp_path):
    image, thumb = put_image(store)
    full = files_rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    small = files_rig.send(cmd.DownlinkProduct(image.id, Variant.THUMBNAIL))
    files_rig.pump(20.0)
    done = [i for i in files_rig.items if isinstance(i, FileDone)]
    assert [d.delivered for d in done] == [True, True]
    for product in (image, thumb):
        received = (tmp_path / 'ground-files' / (product.id + '.jpg')).read_bytes()
        assert hashlib.sha256(received).hexdigest() == product.sha256
        assert store.get(product.id).downlink_state is DownlinkState.DONE
    for request_id, product in ((full, image), (small, thumb)):
        status = files_rig.status(request_id)
        assert status.completed
        assert [r.subtype for r in status.reports][:2] == [V.ACCEPTANCE_SUCCESS,
                                                           V.START_SUCCESS]
        assert status.result == DownlinkResult(product.id, product.size_bytes,
                                               bytes.fromhex(product.sha256),
                                               product.id + '.jpg')
    events = [i.text for i in files_rig.items if isinstance(i, EventReport)
              and i.event.event_id is EventId.FILE_DOWNLINK_DONE]
    assert len(events) == 2


def test_thumbnails_go_before_full_images_queued_earlier(files_rig, store):
    images = [put_image(store, stamp=1.8e9 + i)[0] for i in range(3)]
    for image in images:
        files_rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    files_rig.pump(0.2)
    for image in images:
        files_rig.send(cmd.DownlinkProduct(image.id, Variant.THUMBNAIL))
    files_rig.pump(40.0)
    names = [d.name for d in files_rig.items if isinstance(d, FileDone) and d.delivered]
    assert len(names) == 6
    assert names[0].startswith('img-'), 'the transfer already in work finishes first'
    assert [n[:4] for n in names[1:4]] == ['thm-'] * 3


def test_telemetry_keeps_flowing_during_a_file_transfer(files_rig, store):
    image, _ = put_image(store, size=300_000)
    files_rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    files_rig.items.clear()
    ping = files_rig.send(cmd.Ping())
    files_rig.pump(3.0)
    assert files_rig.status(ping).completed
    assert [i for i in files_rig.items if isinstance(i, Housekeeping)
            and i.sid is HkSet.MOBILITY]
    assert files_rig.bridge.snapshot().files_pending == 1
    files_rig.pump(20.0)
    assert files_rig.bridge.snapshot().files_pending == 0


@pytest.mark.parametrize('product_id, variant, code', [
    ('img-20990101T000000000Z-left-0000', Variant.FULL, ErrorCode.UNKNOWN_PRODUCT),
])
def test_unknown_products_fail_to_start(files_rig, product_id, variant, code):
    request_id = files_rig.send(cmd.DownlinkProduct(product_id, variant))
    status = files_rig.status(request_id)
    assert [r.subtype for r in status.reports] == [V.ACCEPTANCE_SUCCESS, V.START_FAILURE]
    assert status.failure.code is code


def test_a_product_without_thumbnail_cannot_be_sent_as_one(files_rig, store):
    evidence = store.put(b'{"sample": 1}', kind=ProductKind.EVIDENCE, suffix='.json',
                         stamp=1.8e9)
    request_id = files_rig.send(cmd.DownlinkProduct(evidence.id, Variant.THUMBNAIL))
    assert files_rig.status(request_id).failure.code is ErrorCode.NO_THUMBNAIL
    request_id = files_rig.send(cmd.DownlinkProduct(evidence.id, Variant.FULL))
    files_rig.pump(10.0)
    assert files_rig.status(request_id).completed


def test_no_cfdp_pdu_is_lost_between_the_sender_and_a_lossless_link(tmp_path, mac, store):
    """A PDU drained but left over by a tick's budget must go out in a later tick."""
    sender = FileSender(tmp_path / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID, config=CFDP)
    receiver = FileReceiver(tmp_path / 'ground-files', local_entity_id=CFDP_GROUND_ENTITY_ID,
                            remote_entity_id=CFDP_ROVER_ENTITY_ID, config=CFDP)
    rig = Rig(tmp_path, mac, config=CONFIG, products=store, files=sender, receiver=receiver)
    try:
        rig.send(cmd.Ping())
        image, _ = put_image(store, size=120_000)
        request_id = rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))
        rig.pump(20.0)
        assert rig.status(request_id).completed
        assert receiver.counters.pdus_received == sender.counters.pdus_sent
        assert receiver.counters.stale == 0, 'nothing was sent twice on a lossless link'
    finally:
        rig.bridge.close()
        sender.close()
