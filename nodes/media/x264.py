"""libx264 settings for the source-video encoder and the stitcher, chosen so that the same frames always give
the same bytes.

Two things made x264's output vary with nothing but the machine's state:

- Thread count. x264 writes it into the stream and frame threading changes its decisions; left automatic
  it follows the CPU count. It is fixed by the picture size (``threads_for``): ``THREADS``, or one thread
  up to ``ONE_THREAD_MAX_PIXELS``, where x264's frame threads cost more CPU than they save.
- AVX-512. x264's AVX-512 ``mbtree_propagate_list`` (the macroblock-tree rate control, x86-64) handles a row
  of the half-resolution lookahead picture in blocks of 8 macroblocks and does not mask the lanes past the
  row's end, unlike the SSSE3/AVX/AVX2 versions, which only keep the first ``width`` results. On the last
  row (on the others they take the next row's values) those lanes read past the end of x264's
  motion-vector and cost arrays into uninitialised heap memory
  and, when the leftover bytes look like a motion vector pointing back into the picture, add them to the
  costs that set the quantisers. So when the picture is not a multiple of 128 pixels wide
  (``ceil(width/16) % 8 != 0``: 320, 480, 720, 854, 1080 ...), the bytes depended on leftover memory
  (``MALLOC_PERTURB_`` alone changed them). On CPUs where x264 would pick AVX-512 it is told to use its
  AVX2 code instead (``asm=...``): same size and quality, ~8 % more CPU time at 1280x720.
  The CPU is read from numpy's run-time feature table; x264's own AVX-512 test (AVX512 F, CD, BW, DQ, VL
  and OS support) is numpy's ``AVX512_SKX`` group. Where that table cannot be read, macroblock-tree is
  switched off instead (``mbtree=0``: no misread, but ~1.2-2.2x larger files at the same CRF).
"""

from __future__ import annotations

import functools
import importlib

CRF = 14
PRESET = "veryfast"
THREADS = 8
# 128x128, veryfast, 750 frames: 0.48 CPU-s with 8 frame threads, 0.29 with one (and no sooner); at 480x480
# the threads cost 13 % more CPU and save 30 % of the time.
ONE_THREAD_MAX_PIXELS = 256 * 256
# x264 CPU names: "AVX2" includes FMA3, LZCNT, BMI1 and BMI2; "SSE2Fast" is what its detection adds to SSSE3.
AVX2_ASM = "SSE2Fast,SSSE3,SSE4.2,AVX,AVX2"
_AVX2_FEATURES = ("SSE2", "SSSE3", "SSE41", "SSE42", "AVX", "FMA3", "AVX2", "BMI", "BMI2", "LZCNT")


def cpu_features() -> dict[str, bool] | None:
    """numpy's run-time CPU feature table (numpy 2: ``numpy._core``, 1.x: ``numpy.core``), or None."""
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            features = importlib.import_module(name).__cpu_features__
        except (ImportError, AttributeError):
            continue
        if isinstance(features, dict):
            return features
    return None


def params_for(features: dict[str, bool] | None) -> str | None:
    """The ``x264-params`` for a CPU feature table (see the module doc); None: x264's defaults are safe."""
    if features is not None and not features.get("AVX512_SKX"):
        return None  # x264 picks no AVX-512 code here (other x86 CPUs, ARM)
    if features is not None and all(features.get(name) for name in _AVX2_FEATURES):
        return f"asm={AVX2_ASM}"
    return "mbtree=0"


@functools.cache
def _this_cpu() -> str | None:
    return params_for(cpu_features())


def threads_for(width: int, height: int) -> int:
    """x264's frame threads for a picture size (part of what makes the bytes; see the module doc)."""
    return 1 if width * height <= ONE_THREAD_MAX_PIXELS else THREADS


def encoder_options(crf: int = CRF) -> dict[str, str]:
    """PyAV ``options`` for the libx264 stream (opened with ``thread_count = threads_for(width, height)``)."""
    options = {"crf": str(crf), "preset": PRESET}
    params = _this_cpu()
    if params:
        options["x264-params"] = params
    return options
