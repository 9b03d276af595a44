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
Benchmark of the camera encode path and of the CPU one camera stream costs.

Prints, for 720p and 1080p synthetic lunar frames:
- the time per frame and frames per second of the camera path (``encode_frame`` as the
  stream timer calls it, plus the copy into the CompressedImage data array), against a bare
  ``simplejpeg.encode_jpeg`` call on the same frames in the same run, interleaved, and their
  ratio (goal >= 0.9x);
- the capture path (full-resolution JPEG at the capture quality plus an 8 kB thumbnail);
- the CPU share (process time / wall time) of one camera streaming at the default rate with
  the fake source: render, raw-image copy, JPEG encode, paced by sleeping like the timer.

    .venv/bin/python benchmarks/cams_encode.py [--seconds 4]
"""

import argparse
import array
import statistics
import time

import numpy as np
from rover_cams.encoding import encode_frame, make_thumbnail
from rover_cams.fake_source import FakeSource
from rover_cams.params import CAMERA_PARAMS
import simplejpeg

SIZES = {'720p': (1280, 720), '1080p': (1920, 1080)}
DEFAULTS = CAMERA_PARAMS.defaults()
STREAM_QUALITY = int(DEFAULTS['stream_jpeg_quality'])
CAPTURE_QUALITY = int(DEFAULTS['capture_jpeg_quality'])


def camera_path(frame) -> int:
    """Encode as the stream timer does and copy into a message data array."""
    jpeg = encode_frame(frame, STREAM_QUALITY)
    data = array.array('B')
    data.frombytes(jpeg)
    return len(data)


def bare_encode(frame) -> int:
    """Call the same encoder directly with the same settings."""
    return len(simplejpeg.encode_jpeg(frame.image, quality=STREAM_QUALITY, colorspace='BGR',
                                      colorsubsampling='420'))


def time_interleaved(frames, functions, rounds: int) -> dict:
    """Return the median seconds per call of each function, calls interleaved per frame."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for frame in frames:
            for name, function in functions.items():
                start = time.perf_counter()
                function(frame)
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired_ratio(frames, bare, path, rounds: int) -> tuple:
    """
    Return (median bare s, median path s, median of per-pair bare/path speed ratios).

    Each pair times both calls back to back on the same frame, in alternating order, so
    load from other processes on a shared machine hits both sides of a pair alike.
    """
    bare_times, path_times, ratios = [], [], []
    for r in range(rounds):
        for i, frame in enumerate(frames):
            order = (bare, path) if (r + i) % 2 == 0 else (path, bare)
            spent = {}
            for function in order:
                start = time.perf_counter()
                function(frame)
                spent[function] = time.perf_counter() - start
            bare_times.append(spent[bare])
            path_times.append(spent[path])
            ratios.append(spent[bare] / spent[path])
    return (statistics.median(bare_times), statistics.median(path_times),
            statistics.median(ratios))


def cpu_share(width: int, height: int, rate: float, seconds: float) -> tuple:
    """Return (CPU share of one core, frames) of one fake camera streaming at ``rate``."""
    source = FakeSource('left', width=width, height=height, fps=rate)
    period = 1.0 / rate
    frames = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    next_tick = wall0
    while time.perf_counter() - wall0 < seconds:
        frame = source.read()
        raw = array.array('B')
        raw.frombytes(np.ascontiguousarray(frame.image).data)
        camera_path(frame)
        frames += 1
        next_tick += period
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return cpu / wall, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--rounds', type=int, default=10, help='passes over the frames')
    parser.add_argument('--seconds', type=float, default=4.0, help='CPU-share run length')
    args = parser.parse_args()
    print(f'stream quality {STREAM_QUALITY}, capture quality {CAPTURE_QUALITY}, 4:2:0, '
          f'simplejpeg {simplejpeg.__version__}')
    for label, (width, height) in SIZES.items():
        source = FakeSource('left', width=width, height=height, seed=7)
        frames = [source.read() for _ in range(10)]
        for frame in frames[:2]:  # warm up caches and the encoder
            camera_path(frame)
            bare_encode(frame)
        bare_s, camera_s, ratio = paired_ratio(frames, bare_encode, camera_path, args.rounds)
        capture = time_interleaved(
            frames[:4], {'capture': lambda f: (encode_frame(f, CAPTURE_QUALITY),
                                               make_thumbnail(f))}, 2)['capture']
        size = len(encode_frame(frames[0], STREAM_QUALITY))
        print(f'{label}: camera path {1e3 * camera_s:.2f} ms ({1 / camera_s:.0f} fps), bare '
              f'simplejpeg {1e3 * bare_s:.2f} ms ({1 / bare_s:.0f} fps), camera/bare speed '
              f'ratio {ratio:.2f}x (median of paired runs; goal >= 0.9x) '
              f'[{"ok" if ratio >= 0.9 else "BELOW GOAL"}]; stream JPEG {size / 1e3:.0f} kB; '
              f'capture (q{CAPTURE_QUALITY} + thumbnail) {1e3 * capture:.1f} ms')
    rate = float(DEFAULTS['stream_rate'])
    width, height = int(DEFAULTS['width']), int(DEFAULTS['height'])
    share, count = cpu_share(width, height, rate, args.seconds)
    print(f'one camera streaming {width}x{height} at the default {rate:.1f} Hz (fake source, '
          f'raw copy + JPEG): {100 * share:.1f} % of one core over {count} frames '
          f'({1e3 * share / rate:.1f} ms CPU per frame)')


if __name__ == '__main__':
    main()
