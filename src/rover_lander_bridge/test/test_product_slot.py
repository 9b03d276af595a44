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

"""An unavailable product slot refuses writes with StoreUnavailable, never a TypeError."""

import pytest
from rover_common.product_store import ProductKind, StoreUnavailable
from rover_lander_bridge.product_slot import ProductSlot


def test_a_write_to_an_unavailable_store_names_it_and_why(tmp_path):
    root = tmp_path / 'products'
    root.write_text('a file where the store directory should be')
    slot = ProductSlot(root, budget_bytes=1 << 20)
    try:
        assert slot.try_open() is None
        with pytest.raises(StoreUnavailable) as raised:
            slot.put(b'jpeg', kind=ProductKind.IMAGE, suffix='.jpg', stamp=1.8e9)
        assert raised.value.name == 'products' and 'unavailable' in raised.value.cause
        assert root.read_text() == 'a file where the store directory should be'
    finally:
        slot.close()
