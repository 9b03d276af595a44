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
The lander bridge's parameters: one table for the ROS node and the standalone rover.

The node declares them with descriptors (``rover_common.rover_node.RoverNode``); the
standalone rover validates the same table from its command line. :func:`bridge_config` and
:func:`cfdp_config` turn a validated value set into the cores' configurations.
"""

import math
from typing import Mapping, Optional

from rover_common.param_spec import ParamSpec, ParamTable, ParamValue
from rover_lander_bridge.bridge import BridgeConfig
from rover_link.cfdp import CfdpConfig
from rover_link.commands import CommandLimits
from rover_link.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, HkSet,
                                 SA_MANAGEMENT_SPI)

TRANSPORTS = ('udp', 'serial')
#: The rover's physical floors: a ceiling parameter may not go below its floor.
_FLOORS = CommandLimits()
#: The longest fixed deadline (COLLECT_SAMPLE's): max_command_duration may not cut it.
_LONGEST_FIXED_DEADLINE = max(BridgeConfig.sample_timeout, BridgeConfig.shovel_timeout,
                              BridgeConfig.capture_timeout)
#: Bytes a space packet header adds to a CFDP PDU.
_PACKET_HEADER = 6

SPECS = (
    # Link and transport.
    ParamSpec('transport', 'udp', 'Link to the lander: udp (radio relay) or serial (umbilical)',
              choices=TRANSPORTS, read_only=True),
    ParamSpec('udp_local_host', '0.0.0.0', 'Local address the UDP transport binds',
              read_only=True),
    ParamSpec('udp_local_port', 10017, 'Local UDP port (uplink frames arrive here)', '', 1,
              65535, read_only=True),
    ParamSpec('udp_remote_host', '127.0.0.1', "Lander relay's address (downlink frames go "
              'there)', read_only=True),
    ParamSpec('udp_remote_port', 10010, "Lander relay's UDP port", '', 1, 65535,
              read_only=True),
    ParamSpec('udp_receive_buffer_bytes', 4 << 20, 'Receive buffer (SO_RCVBUF) of the UDP '
              'socket: how many uplink bytes wait in the kernel while the loop is busy, instead '
              'of being dropped (0: kernel default; Linux caps it at net.core.rmem_max unless '
              'the process may force it; a smaller grant is logged). Datagrams the kernel still '
              'drops are counted in LINK housekeeping', 'B', 0, 1 << 30, read_only=True),
    ParamSpec('serial_port', '/dev/ttyUSB0', 'Serial device of the umbilical', read_only=True),
    ParamSpec('serial_baudrate', 115200, 'Serial line rate of the umbilical', 'bit/s', 1200,
              4_000_000, read_only=True),
    # Security and state.
    ParamSpec('key_file', '~/.ros/lander_bridge/uplink.key', 'File holding the 256-bit uplink '
              'key (64 hex digits, mode 600; never in git; "rover-ground keygen PATH" writes '
              'one). The bridge refuses to start without it', read_only=True),
    ParamSpec('create_key_if_missing', False, 'Write a new random key to key_file (mode 600) '
              'when it does not exist, and log where: for fake and simulation set-ups only; '
              'copy it to the ground tool', read_only=True),
    ParamSpec('spi', 1, 'Security parameter index the key belongs to (65535 is reserved '
              'for SA management)', '', 0, SA_MANAGEMENT_SPI - 1, read_only=True),
    ParamSpec('replay_window', 64, 'Highest accepted ARSNs remembered: how far the link may '
              'reorder telecommands', '', 1, 4096, read_only=True),
    ParamSpec('state_dir', '~/.ros/lander_bridge', 'Directory of the persisted state: '
              'anti-replay window, telemetry store, file-downlink queue', read_only=True),
    ParamSpec('product_dir', '~/.ros/rover_products', 'Directory of the on-board product '
              'store (shared with cameras and shovel)', read_only=True),
    ParamSpec('product_budget_bytes', 2_000_000_000, 'Disk budget of the product store (the '
              'same value as the cameras and shovel nodes)', 'B', 1_000_000, 10 ** 13,
              read_only=True),
    ParamSpec('tick_rate', 20.0, 'Rate of the bridge loop (timers, downlink scheduling)', 'Hz',
              1.0, 200.0, read_only=True),
    ParamSpec('store_retry_interval', 30.0, 'While the product store cannot be opened (locked, '
              'unreadable), the bridge runs without it and tries again this often', 's', 1.0,
              3600.0, read_only=True),
    # Link loss.
    ParamSpec('link_timeout', 10.0, 'No authenticated frame for this long: link down, '
              'telemetry is stored instead of sent', 's', 1.0, 3600.0),
    ParamSpec('beacon_interval', 10.0, 'While the link is down, a link housekeeping report is '
              'sent this often (outside the store) so the relay knows the rover lives; 0: '
              'never', 's', 0.0, 3600.0),
    ParamSpec('safing_timeout', 60.0, 'No authenticated frame for this long: the rover stops, '
              'the shovel holds, until the ground sends RELEASE', 's', 1.0, 86400.0),
    # Downlink budget.
    ParamSpec('downlink_rate', 256000.0, 'Downlink budget of this rover on the lander relay',
              'bit/s', 1000.0, 100e6),
    ParamSpec('burst_bytes', 8192, 'Most bytes sent back to back (token-bucket depth)', 'B',
              256, 1 << 20),
    ParamSpec('max_frame_bytes', 1024, 'Most bytes of space packets in one downlink frame, '
              'which adds 26 B of security header and MAC (CFDP PDUs are cut to fit)',
              'B', 128, 65000, read_only=True),
    ParamSpec('frame_overhead_bytes', 54, 'Bytes each downlink frame costs beyond its space '
              'packets: 26 of security header and MAC plus what the link adds (54: UDP over '
              'IPv4)', 'B', 26, 282),
    ParamSpec('tm_store_max_packets', 20000, 'Most telemetry packets kept for store-and-'
              'forward', '', 100, 10_000_000, read_only=True),
    ParamSpec('tm_store_max_bytes', 8 << 20, 'Most telemetry bytes kept for store-and-forward',
              'B', 10_000, 1 << 34, read_only=True),
    # Housekeeping and events.
    ParamSpec('hk_mobility_interval', 2.0, 'Period of housekeeping set 1 (pose, twist, drive '
              'state)', 's', 0.1, 3600.0),
    ParamSpec('hk_shovel_interval', 5.0, 'Period of housekeeping set 2 (shovel)', 's', 0.1,
              3600.0),
    ParamSpec('hk_link_interval', 10.0, 'Period of housekeeping set 3 (link counters)', 's',
              0.1, 3600.0),
    ParamSpec('hk_system_interval', 60.0, 'Period of housekeeping set 4 (product store, '
              'diagnostics)', 's',
              0.1, 3600.0),
    ParamSpec('hk_fault_interval', 30.0, 'Period of housekeeping set 5 (contained loop faults, '
              'store state, store recovery totals)', 's', 0.1, 3600.0),
    ParamSpec('event_min_interval', 1.0, 'Refused-frame events of one kind are aggregated over '
              'at least this long (also: at most one BRIDGE_FAULT per loop step, and one '
              'TC_REFUSALS_SUPPRESSED summary, per interval)', 's', 0.0, 600.0),
    ParamSpec('refusal_report_rate', 5.0, 'Acceptance-failure reports (TM[1,2]) allowed per '
              'second on average; refusals beyond the budget are counted and summed up in '
              'TC_REFUSALS_SUPPRESSED', '1/s', 0.1, 1000.0),
    ParamSpec('refusal_report_burst', 20, 'Acceptance-failure reports allowed back to back '
              '(token-bucket depth of refusal_report_rate)', '', 1, 10000),
    ParamSpec('command_timeout_margin', 30.0, 'A drive or turn fails with TIMEOUT after twice '
              'its nominal duration plus this margin (and the rover is stopped)', 's', 1.0,
              3600.0),
    ParamSpec('max_command_duration', 600.0, 'Longest deadline of any telecommand: a DRIVE or '
              'TURN whose deadline (twice distance/speed or angle/rate, plus '
              'command_timeout_margin) would be longer is refused. The floor is the longest '
              f'fixed deadline (COLLECT_SAMPLE, {_LONGEST_FIXED_DEADLINE:g} s)', 's',
              _LONGEST_FIXED_DEADLINE, 86400.0),
    # Telecommand limits.
    ParamSpec('max_drive_distance', 5.0, 'Largest absolute distance of a DRIVE telecommand',
              'm', 0.01, 100.0),
    ParamSpec('max_drive_speed', 0.1, 'Largest speed of a DRIVE telecommand (at least the '
              f'floor of the drive, {_FLOORS.min_drive_speed} m/s)', 'm/s',
              _FLOORS.min_drive_speed, 1.0),
    ParamSpec('max_turn_angle', 2.0 * math.pi, 'Largest absolute angle of a TURN telecommand',
              'rad', 0.01, 4.0 * math.pi),
    ParamSpec('max_turn_rate', 0.5, 'Largest rate of a TURN telecommand (at least the floor '
              f'of the drive, {_FLOORS.min_turn_rate} rad/s)', 'rad/s', _FLOORS.min_turn_rate,
              3.0),
    ParamSpec('shovel_min_angle', 0.0, 'Smallest MOVE_SHOVEL angle', 'rad', -math.pi, math.pi),
    ParamSpec('shovel_max_angle', 2.0, 'Largest MOVE_SHOVEL angle', 'rad', -math.pi, math.pi),
    ParamSpec('max_shovel_velocity', 0.6, 'Largest MOVE_SHOVEL max_velocity (at least the '
              f'floor of the shovel, {_FLOORS.min_shovel_velocity} rad/s)', 'rad/s',
              _FLOORS.min_shovel_velocity, 5.0),
    ParamSpec('max_dig_distance', 0.3, 'Largest COLLECT_SAMPLE dig distance (at least the '
              f'floor of the shovel, {_FLOORS.min_dig_distance} m)', 'm',
              _FLOORS.min_dig_distance, 2.0),
    # CFDP.
    ParamSpec('cfdp_ack_timer', 5.0, 'CFDP positive-ACK timer (must exceed the round trip, '
              '2.6 s Earth-Moon, plus relay queueing)', 's', 0.1, 600.0),
    ParamSpec('cfdp_nak_timer', 5.0, 'CFDP deferred-NAK timer', 's', 0.1, 600.0),
    ParamSpec('cfdp_ack_limit', 20, 'CFDP positive-ACK expiries before a transfer fails', '',
              1, 1000),
    ParamSpec('cfdp_inactivity', 120.0, 'CFDP inactivity limit of a transfer', 's', 1.0,
              86400.0),
    ParamSpec('cfdp_rover_entity_id', CFDP_ROVER_ENTITY_ID, 'CFDP entity id of the rover', '',
              0, 65535, read_only=True),
    ParamSpec('cfdp_ground_entity_id', CFDP_GROUND_ENTITY_ID, 'CFDP entity id of the ground',
              '', 0, 65535, read_only=True),
)


def _cross_check(v: Mapping[str, ParamValue]) -> Optional[str]:
    if v['safing_timeout'] < v['link_timeout']:
        return 'safing_timeout must be >= link_timeout'
    if v['shovel_min_angle'] >= v['shovel_max_angle']:
        return 'shovel_min_angle must be below shovel_max_angle'
    if v['burst_bytes'] < v['max_frame_bytes'] + v['frame_overhead_bytes']:
        return 'burst_bytes must hold one frame: >= max_frame_bytes + frame_overhead_bytes'
    if v['cfdp_inactivity'] <= 2.0 * max(v['cfdp_ack_timer'], v['cfdp_nak_timer']):
        return 'cfdp_inactivity must exceed twice the longer CFDP timer'
    if v['command_timeout_margin'] >= v['max_command_duration']:
        return 'command_timeout_margin must be below max_command_duration'
    if v['cfdp_rover_entity_id'] == v['cfdp_ground_entity_id']:
        return 'the CFDP entity ids of rover and ground must differ'
    return None


TABLE = ParamTable(SPECS, cross_check=_cross_check)


def bridge_config(v: Mapping[str, ParamValue]) -> BridgeConfig:
    """Return the bridge core's configuration from validated parameter values."""
    limits = CommandLimits(
        max_drive_distance=v['max_drive_distance'], max_drive_speed=v['max_drive_speed'],
        max_turn_angle=v['max_turn_angle'], max_turn_rate=v['max_turn_rate'],
        shovel_min_angle=v['shovel_min_angle'], shovel_max_angle=v['shovel_max_angle'],
        max_shovel_velocity=v['max_shovel_velocity'], max_dig_distance=v['max_dig_distance'],
        command_timeout_margin=v['command_timeout_margin'],
        max_command_duration=v['max_command_duration'])
    return BridgeConfig(
        limits=limits, link_timeout=v['link_timeout'], safing_timeout=v['safing_timeout'],
        downlink_rate_bps=v['downlink_rate'], burst_bytes=v['burst_bytes'],
        max_frame_bytes=v['max_frame_bytes'], frame_overhead_bytes=v['frame_overhead_bytes'],
        hk_intervals={HkSet.MOBILITY: v['hk_mobility_interval'],
                      HkSet.SHOVEL: v['hk_shovel_interval'],
                      HkSet.LINK: v['hk_link_interval'],
                      HkSet.SYSTEM: v['hk_system_interval'],
                      HkSet.FAULT: v['hk_fault_interval']},
        event_min_interval=v['event_min_interval'],
        refusal_report_rate=v['refusal_report_rate'],
        refusal_report_burst=v['refusal_report_burst'],
        command_timeout_margin=v['command_timeout_margin'],
        beacon_interval=v['beacon_interval'])


def cfdp_config(v: Mapping[str, ParamValue]) -> CfdpConfig:
    """Return the CFDP configuration; PDUs are sized so one fills at most a downlink frame."""
    return CfdpConfig(ack_timer_s=v['cfdp_ack_timer'], nak_timer_s=v['cfdp_nak_timer'],
                      ack_limit=v['cfdp_ack_limit'], nak_limit=v['cfdp_ack_limit'],
                      inactivity_s=v['cfdp_inactivity'],
                      max_pdu_len=v['max_frame_bytes'] - _PACKET_HEADER)
