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

"""The sample sequence: every phase, every timeout, cancel and faults end safe, the evidence."""

import json
import math

import pytest
from rover_common.product_store import ProductKind, ProductStore

from rover_shovel.config import ShovelConfig
from rover_shovel.fake_joint import FakeJointParams
from rover_shovel.shovel_types import (Activity, DrivePermission, Fault, GoalRejected,
                                       MoveError, Phase, SampleError, SampleRequest)
from shovel_fakes import Rig

HOLD_PATH = [Phase.CHECK_PRECONDITIONS, Phase.UNSTOW, Phase.LOWER, Phase.DIG, Phase.LIFT,
             Phase.CAPTURE, Phase.HOLD]
DUMP_PATH = HOLD_PATH[:-1] + [Phase.DUMP, Phase.STOW]


def make_rig(tmp_path, **overrides):
    rig = Rig(tmp_path, config=ShovelConfig.from_overrides(**overrides),
              joint=FakeJointParams(current_noise=0.002, sample_mass=0.2, seed=3))
    rig.step()
    return rig


def run_sample(rig, request=SampleRequest(command_id='tc-42'), *, on_phase=None,
               timeout=120.0):
    """Run a sample to its result; return (result, phases seen, permissions by phase)."""
    job = rig.ctl.start_collect_sample(request)
    rig.last_job = job
    phases, permissions = [], {}

    def done():
        view = rig.ctl.job(job)
        phase = view.feedback.phase
        if not phases or phases[-1] != phase:
            phases.append(phase)
            if on_phase is not None and not view.done:
                on_phase(phase, job)
        permissions.setdefault(phase, set()).add(rig.ctl.status.drive_permission)
        return view.done

    rig.run_until(done, timeout)
    return rig.ctl.job(job).result, phases, permissions


def assert_rover_stopped(rig):
    assert rig.drive.snapshot().stopped
    assert rig.drive.creep_status().state.value != 'running'


# -- the whole sequence -----------------------------------------------------------------

def test_full_sequence_holds_the_sample_and_stores_the_evidence(tmp_path):
    rig = make_rig(tmp_path)
    result, phases, permissions = run_sample(rig)
    assert result.error == SampleError.NONE, result.message
    assert result.final_phase == Phase.DONE
    assert phases[:-1] == HOLD_PATH and phases[-1] == Phase.DONE
    # the job lists every phase it entered, for callers that poll slower than the loop
    assert list(rig.ctl.job(rig.last_job).phases) == HOLD_PATH + [Phase.DONE]
    # the drive interlock: creep only while digging, forbidden while out of the travel range
    assert permissions[Phase.DIG] >= {DrivePermission.CREEP_ONLY}
    for phase in (Phase.LOWER, Phase.LIFT, Phase.CAPTURE, Phase.HOLD):
        assert permissions[phase] == {DrivePermission.FORBIDDEN}
    # the creep: backwards (shovel first), the configured distance at creep speed
    assert rig.drive.starts == [(-0.10, 0.02)]
    assert rig.cameras.requests == [('both', 'tc-42/capture')]
    # the shovel holds the sample in the hold pose
    rig.step()
    assert rig.ctl.status.activity == Activity.HOLDING and rig.ctl.status.pose == 'hold'
    assert rig.joint.load_kg > 0.1
    # fill estimate close to the truth, within its sigma
    assert abs(result.fill_estimate_kg - rig.joint.load_kg) < 2 * result.fill_estimate_sigma_kg
    assert result.fill_estimate_sigma_kg < 0.08


def test_evidence_package_contents(tmp_path):
    rig = make_rig(tmp_path)
    result, _, _ = run_sample(rig)
    assert len(result.image_product_ids) == 2
    evidence = rig.store.get(result.evidence_product_id)
    assert evidence.kind == ProductKind.EVIDENCE and evidence.path.suffix == '.json'
    doc = json.loads(rig.store.read(result.evidence_product_id))
    assert doc['schema'] == 'rover_shovel.evidence/1'
    assert doc['image_product_ids'] == list(result.image_product_ids)
    for image_id in doc['image_product_ids']:
        assert rig.store.path(image_id).is_file()
        assert rig.store.get(image_id).kind == ProductKind.IMAGE
    assert doc['command_ids'] == ['tc-42', 'drive-goal-1', 'tc-42/capture']
    assert doc['utc'].endswith('Z') and doc['utc_epoch_s'] > 1.79e9
    assert doc['rover_pose']['x'] == 1.5 and doc['rover_pose']['frame_id'] == 'odom'
    assert doc['shovel']['angle_rad'] == pytest.approx(rig.config.pose_hold, abs=0.03)
    assert doc['shovel']['current_a'] < 0.0  # holding the load up against gravity
    assert doc['fill_estimate']['mass_kg'] == pytest.approx(result.fill_estimate_kg)
    assert doc['fill_estimate']['samples'] >= rig.config.fill_min_samples
    assert doc['dig']['distance_travelled_m'] == pytest.approx(-0.10)
    assert [p['phase'] for p in doc['phases']] == [p.name.lower() for p in HOLD_PATH[:-1]]
    # the catalog row carries the same facts for the downlink
    assert evidence.metadata['command_id'] == 'tc-42'
    assert evidence.metadata['image_product_ids'] == list(result.image_product_ids)
    assert evidence.metadata['pose']['y'] == -2.0


def test_evidence_survives_a_reboot(tmp_path):
    rig = make_rig(tmp_path)
    result, _, _ = run_sample(rig)
    rig.store.close()
    with ProductStore(tmp_path / 'products', budget_bytes=50_000_000) as reopened:
        doc = json.loads(reopened.read(result.evidence_product_id))
        assert doc['image_product_ids'] == list(result.image_product_ids)
        pending = {p.id for p in reopened.list(only_pending=True)}
        assert {result.evidence_product_id, *result.image_product_ids} <= pending


def test_dump_after_dumps_and_stows(tmp_path):
    rig = make_rig(tmp_path)
    load_at = {}
    result, phases, _ = run_sample(
        rig, SampleRequest(dig_distance=0.05, dump_after=True),
        on_phase=lambda phase, job: load_at.setdefault(phase, rig.joint.load_kg))
    assert result.error == SampleError.NONE, result.message
    assert phases[:-1] == DUMP_PATH
    assert result.evidence_product_id
    # photographed with the sample in; the dump tips it out before the shovel stows
    assert load_at[Phase.CAPTURE] > 0.1 and load_at[Phase.DUMP] > 0.1
    assert load_at[Phase.STOW] == 0.0
    assert rig.joint.load_kg == 0.0
    assert rig.joint.angle == pytest.approx(0.0, abs=0.03)
    rig.step()
    assert rig.ctl.status.drive_permission == DrivePermission.ALLOWED
    assert rig.ctl.status.activity == Activity.IDLE
    assert rig.drive.starts == [(-0.05, 0.02)]


def test_hold_and_the_travel_poses_keep_the_sample_and_dump_empties_the_scoop(tmp_path):
    # The scoop's mouth faces up stowed and in hold, down in dump (rover_description).
    rig = make_rig(tmp_path)
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.NONE, result.message
    sample = rig.joint.load_kg
    assert sample > 0.1
    for pose in ('stowed', 'travel', 'ready', 'hold'):
        assert rig.run_job(rig.ctl.move_to(pose)).error == MoveError.NONE
        assert rig.joint.load_kg == sample, pose
    assert rig.run_job(rig.ctl.move_to('dump')).error == MoveError.NONE
    assert math.cos(rig.joint.angle) < -0.1  # the mouth, (-sin q, 0, cos q), faces down
    assert rig.joint.load_kg == 0.0
    assert rig.run_job(rig.ctl.move_to('stowed')).error == MoveError.NONE
    assert rig.joint.load_kg == 0.0


def test_progress_rises_monotonically_to_one(tmp_path):
    rig = make_rig(tmp_path)
    job = rig.ctl.start_collect_sample(SampleRequest())
    progress = []
    rig.run_until(lambda: rig.ctl.job(job).done
                  or progress.append(rig.ctl.job(job).feedback.progress))
    assert progress == sorted(progress)
    assert rig.ctl.job(job).feedback.progress == 1.0


def test_the_creep_starts_a_step_after_creep_only_is_announced(tmp_path):
    rig = make_rig(tmp_path)
    seen = []

    def on_phase(phase, job):
        if phase == Phase.DIG:
            seen.append((rig.ctl.status.drive_permission, len(rig.drive.starts)))

    run_sample(rig, on_phase=on_phase)
    assert seen == [(DrivePermission.CREEP_ONLY, 0)]


@pytest.mark.parametrize('request_, words', [
    (SampleRequest(dig_distance=-0.1), 'dig_distance'),
    (SampleRequest(dig_distance=0.5), 'dig_max_distance'),
    (SampleRequest(dig_distance=math.nan), 'dig_distance'),
    (SampleRequest(command_id='x' * 57), 'command_id'),
    (SampleRequest(command_id='t\u00e9l\u00e9commande'), 'command_id'),
    (SampleRequest(command_id='bad\nid'), 'command_id'),
])
def test_invalid_requests_are_rejected_before_anything_moves(tmp_path, request_, words):
    rig = make_rig(tmp_path)
    with pytest.raises(GoalRejected, match=words):
        rig.ctl.start_collect_sample(request_)
    assert rig.ctl.active_job_id is None


# -- preconditions ----------------------------------------------------------------------

def test_waits_for_the_rover_to_stop_then_runs(tmp_path):
    rig = make_rig(tmp_path)
    rig.drive.moving = True
    job = rig.ctl.start_collect_sample(SampleRequest())
    rig.run_for(1.0)
    assert rig.ctl.job(job).feedback.phase == Phase.CHECK_PRECONDITIONS
    assert rig.joint.angle == 0.0
    rig.drive.moving = False
    assert rig.run_job(job).error == SampleError.NONE


@pytest.mark.parametrize('setup, error, words', [
    (lambda rig: setattr(rig.drive, 'moving', True), SampleError.PRECONDITION,
     'the rover to stop'),
    (lambda rig: setattr(rig.drive, 'available', False), SampleError.PRECONDITION,
     'drive_distance server'),
    (lambda rig: setattr(rig.cameras, 'available', False), SampleError.PRECONDITION,
     'capture server'),
    (lambda rig: setattr(rig.drive, 'silent_since', rig.clock.now - 10), SampleError.PRECONDITION,
     'fresh drive/status'),
    (lambda rig: setattr(rig.drive, 'fault', True), SampleError.PRECONDITION, 'drive fault'),
    (lambda rig: (setattr(rig.drive, 'estop', True),
                  setattr(rig.drive, 'estop_reason', 'ground')), SampleError.ESTOP, 'ground'),
])
def test_unmet_preconditions_fail_without_moving(tmp_path, setup, error, words):
    rig = make_rig(tmp_path)
    setup(rig)
    result, phases, _ = run_sample(rig)
    assert result.error == error and words in result.message
    assert result.final_phase == Phase.CHECK_PRECONDITIONS
    assert rig.joint.angle == 0.0 and rig.drive.starts == []


def test_a_latched_shovel_fault_fails_the_preconditions(tmp_path):
    rig = make_rig(tmp_path)
    rig.joint.inject_hardware_fault((Fault.STALL, 'servo overload'))
    rig.step()
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.PRECONDITION and 'clear_fault' in result.message


# -- every phase's timeout --------------------------------------------------------------

def _bias_until_safing(rig, value):
    def on_phase(phase, job):
        rig.joint.bias_sensor(value if phase != Phase.SAFING else 0.0)
    return on_phase


TIMEOUT_CASES = {
    Phase.CHECK_PRECONDITIONS: ({}, lambda rig: setattr(rig.drive, 'moving', True)),
    Phase.UNSTOW: ({}, None),
    Phase.LOWER: ({}, None),
    Phase.DIG: ({}, lambda rig: setattr(rig.drive, 'stall_creep', True)),
    Phase.LIFT: ({}, None),
    Phase.CAPTURE: ({}, lambda rig: setattr(rig.cameras, 'hang', True)),
    Phase.HOLD: ({}, None),
    Phase.DUMP: ({'dump_after': True}, None),
    Phase.STOW: ({'dump_after': True}, None),
}


@pytest.mark.parametrize('phase', list(TIMEOUT_CASES), ids=lambda p: p.name)
def test_every_phase_times_out_and_ends_safe(tmp_path, phase):
    name = phase.name.lower()
    overrides = {f'timeout_{name}': 1.0}
    if phase == Phase.DIG:  # the timeout must still allow the longest dig at creep speed
        overrides.update(dig_max_distance=0.02, dig_distance=0.02)
    if phase == Phase.DUMP:
        overrides.update(dump_dwell=0.5)
    rig = make_rig(tmp_path, **overrides)
    request_kwargs, setup = TIMEOUT_CASES[phase]
    if setup is not None:
        setup(rig)

    def on_phase(current, job):
        # joints that cannot arrive: the sensor reads 0.1 rad off (within the error tolerance)
        if setup is None:
            rig.joint.bias_sensor(0.1 if current == phase else 0.0)

    result, phases, _ = run_sample(rig, SampleRequest(dig_distance=rig.config.dig_distance,
                                                      **request_kwargs), on_phase=on_phase)
    assert result.error == (SampleError.PRECONDITION if phase == Phase.CHECK_PRECONDITIONS
                            else SampleError.TIMEOUT), result.message
    assert result.final_phase == phase
    assert name.upper() in result.message
    assert rig.ctl.status.fault == Fault.NONE
    if phase == Phase.CHECK_PRECONDITIONS:
        assert rig.drive.starts == [] and rig.joint.angle == 0.0  # a teleop drive, not ours
    else:
        assert_rover_stopped(rig)
        assert phases[-1] == Phase.SAFING and 'safed' in result.message
    rig.step()
    assert rig.ctl.status.activity in (Activity.IDLE, Activity.HOLDING)


def test_safing_has_its_own_timeout(tmp_path):
    rig = make_rig(tmp_path, timeout_safing=2.0)

    def on_phase(phase, job):
        if phase == Phase.DIG:
            rig.run_for(1.0)
            rig.ctl.cancel(job)
            rig.drive.moving = True   # the drive never reports stopped

    result, phases, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.CANCELED and result.final_phase == Phase.DIG
    assert 'safing timed out' in result.message and 'rover stop not confirmed' in result.message


# -- cancel in every phase ----------------------------------------------------------------

CANCEL_CASES = [(p, False) for p in HOLD_PATH] + [(Phase.DUMP, True), (Phase.STOW, True)]


@pytest.mark.parametrize('phase, dump', CANCEL_CASES, ids=lambda c: str(c))
def test_cancel_in_every_phase_ends_safe(tmp_path, phase, dump):
    rig = make_rig(tmp_path)
    rig.drive.moving = phase == Phase.CHECK_PRECONDITIONS  # keep it waiting there

    def on_phase(current, job):
        if current == phase:
            rig.run_for(0.2)
            assert rig.ctl.job(job).feedback.phase == phase
            rig.ctl.cancel(job)

    result, phases, _ = run_sample(rig, SampleRequest(dump_after=dump), on_phase=on_phase)
    assert result.error == SampleError.CANCELED
    assert result.final_phase == phase
    assert rig.ctl.job(rig.last_job).phases[-2:] == (phase, Phase.SAFING)
    assert 'safed' in result.message
    if phase != Phase.CHECK_PRECONDITIONS:
        assert_rover_stopped(rig)
    rig.run_for(0.5)
    status = rig.ctl.status
    assert status.fault == Fault.NONE and status.activity in (Activity.IDLE, Activity.HOLDING)
    if phase == Phase.CHECK_PRECONDITIONS:
        assert rig.joint.angle == 0.0 and 'rover not moved' in result.message
    elif phase in (Phase.CAPTURE, Phase.HOLD, Phase.DUMP):
        # the sample is in the scoop: keep it, in the hold pose
        assert status.pose == 'hold' and status.activity == Activity.HOLDING
        assert 'with the sample' in result.message
    else:
        assert status.pose == 'stowed' and status.drive_permission == DrivePermission.ALLOWED
    if phase == Phase.CAPTURE:
        assert rig.cameras.cancels >= 1


def test_cancel_mid_dig_stops_the_rover_and_stows(tmp_path):
    rig = make_rig(tmp_path)

    def on_phase(phase, job):
        if phase == Phase.DIG:
            rig.run_for(2.0)
            rig.ctl.cancel(job)

    result, phases, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.CANCELED and result.final_phase == Phase.DIG
    assert rig.drive.stops >= 1
    assert rig.drive.creep_status().state.value == 'canceled'
    assert 0.0 < abs(rig.drive.creep_status().distance_travelled) < 0.1
    assert rig.joint.angle == pytest.approx(0.0, abs=0.03)
    assert not result.evidence_product_id


# -- faults and errors in phases ----------------------------------------------------------

def test_a_stall_while_lowering_holds_the_joint_and_latches(tmp_path):
    rig = make_rig(tmp_path)

    def on_phase(phase, job):
        if phase == Phase.LOWER:
            rig.joint.jam(1.4)

    result, phases, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.FAULT and result.final_phase == Phase.LOWER
    assert 'STALL' in result.message and 'held at' in result.message
    assert rig.ctl.status.fault == Fault.STALL
    assert rig.joint.command_angle == pytest.approx(1.4, abs=0.02)
    assert rig.ctl.status.drive_permission == DrivePermission.FORBIDDEN


def test_a_fault_while_digging_stops_the_creep(tmp_path):
    rig = make_rig(tmp_path)

    def on_phase(phase, job):
        if phase == Phase.DIG:
            rig.run_for(1.0)
            rig.joint.inject_hardware_fault((Fault.OVERCURRENT, 'servo: electrical shock'))

    result, phases, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.FAULT and result.final_phase == Phase.DIG
    assert rig.drive.stops >= 1
    assert_rover_stopped(rig)
    assert rig.joint.angle == pytest.approx(rig.config.pose_dig, abs=0.03)


def test_estop_mid_lift_holds_everything(tmp_path):
    rig = make_rig(tmp_path)

    def on_phase(phase, job):
        if phase == Phase.LIFT:
            rig.run_for(1.0)
            rig.drive.estop, rig.drive.estop_reason = True, 'hazard'

    result, phases, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.ESTOP and result.final_phase == Phase.LIFT
    held = rig.joint.angle
    rig.run_for(1.0)
    assert rig.joint.angle == pytest.approx(held, abs=0.01)
    assert rig.config.pose_hold + 0.1 < held < rig.config.pose_dig


def test_creep_failure_ends_with_a_drive_error(tmp_path):
    rig = make_rig(tmp_path)
    rig.drive.fail_after = 0.03
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.DRIVE and 'wheel fault' in result.message
    assert result.final_phase == Phase.DIG
    assert rig.joint.angle == pytest.approx(0.0, abs=0.03)


def test_creep_refused_ends_with_a_drive_error(tmp_path):
    rig = make_rig(tmp_path)
    rig.drive.refuse_start = True
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.DRIVE and 'could not start' in result.message


def test_lost_drive_status_mid_sequence_ends_safe(tmp_path):
    rig = make_rig(tmp_path, timeout_safing=3.0, drive_status_timeout=0.5)

    def on_phase(phase, job):
        if phase == Phase.LOWER:
            rig.drive.silent_since = rig.clock.now

    result, _, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.DRIVE and 'drive/status lost' in result.message
    assert result.final_phase == Phase.LOWER
    assert rig.joint.angle == pytest.approx(0.0, abs=0.03)  # the creep never started


@pytest.mark.parametrize('attribute', ['fail', 'bogus_ids'])
def test_capture_failures_end_with_a_capture_error_holding_the_sample(tmp_path, attribute):
    rig = make_rig(tmp_path)
    setattr(rig.cameras, attribute, True)
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.CAPTURE and result.final_phase == Phase.CAPTURE
    assert not result.evidence_product_id
    assert rig.ctl.status.pose == 'hold'
    if attribute == 'bogus_ids':
        assert 'product_dir' in result.message


def test_a_full_store_is_a_capture_error_and_loses_nothing(tmp_path):
    rig = make_rig(tmp_path)
    rig.store.close()
    rig.store = ProductStore(tmp_path / 'small', budget_bytes=1000)  # images fit, evidence not
    rig.cameras.store = rig.store
    rig.ctl = type(rig.ctl)(rig.config, rig.joint, rig.drive, rig.cameras, rig.store)
    rig.step()
    result, _, _ = run_sample(rig)
    assert result.error == SampleError.CAPTURE and 'refused' in result.message
    assert len(rig.store.list(kind=ProductKind.IMAGE)) == 2


def test_a_move_goal_preempts_a_sample(tmp_path):
    rig = make_rig(tmp_path)
    moves = []

    def on_phase(phase, job):
        if phase == Phase.DIG:
            rig.run_for(1.0)
            moves.append(rig.ctl.stow())

    result, _, _ = run_sample(rig, on_phase=on_phase)
    assert result.error == SampleError.PREEMPTED and result.final_phase == Phase.DIG
    assert rig.drive.stops >= 1
    assert rig.run_job(moves[0]).error == MoveError.NONE
