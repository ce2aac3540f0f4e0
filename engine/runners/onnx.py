"""ONNX Runtime sessions: CUDA when it really works, CPU otherwise, and no log spam either way.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on machines without a GPU
or CUDA libraries; asking for it there logs an error and a warning before falling back to CPU.
So CUDA is only tried when an NVIDIA device node exists, with the runtime's logger silenced for
that attempt, and a failure is remembered for the rest of the process.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from pathlib import Path

import onnxruntime as ort

from . import RESOURCES, ModelError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _has_nvidia_device() -> bool:
    if sys.platform.startswith("linux"):
        return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")
    return sys.platform == "win32"  # no cheap check there; the silenced attempt decides


def options(threads: int | None = None) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return so


_CUDA_FAILED = False


@lru_cache(maxsize=1)
def cuda_possible() -> bool:
    """CUDA is listed by the runtime and an NVIDIA device exists (cheap; no library loading)."""
    if os.environ.get("RETOUCH_NO_CUDA") or CUDA not in ort.get_available_providers():
        return False
    return _has_nvidia_device()


def session(model: str | Path | bytes, *, prefer_gpu: bool = True,
            threads: int | None = None) -> tuple[ort.InferenceSession, str]:
    """An inference session and the device it runs on (``"CUDA"`` or ``"CPU"``)."""
    global _CUDA_FAILED
    src = model if isinstance(model, bytes) else str(model)
    if prefer_gpu and cuda_possible() and not _CUDA_FAILED:
        so = options(threads)
        so.log_severity_level = 4  # the attempt itself must not print errors when CUDA libs are missing
        ort.set_default_logger_severity(4)
        try:
            s = ort.InferenceSession(src, so, providers=[CUDA, CPU])
            if s.get_providers()[0] == CUDA:
                return s, "CUDA"
        except Exception as e:  # onnxruntime's own types: fall through to the CPU session, said only in debug
            log.debug("CUDA session not made (%s): running on the CPU", e)
        finally:
            ort.set_default_logger_severity(3)
        _CUDA_FAILED = True  # remembered: one silent attempt per process
    try:
        return ort.InferenceSession(src, options(threads), providers=[CPU]), "CPU"
    except Exception as e:  # onnxruntime's own types (InvalidProtobuf, InvalidArgument, Fail, ...)
        name = "the model" if isinstance(model, bytes) else Path(model).name
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        if not isinstance(model, bytes):  # its path says nothing the name does not: keep the cause
            reason = reason.replace(str(model), name)
            if not Path(model).exists() and Path(model).parent == RESOURCES:  # a wheel built without them
                raise ModelError(f"{name}: Retouch's own model is missing from {RESOURCES} (install Retouch "
                                 "from its checkout, with make setup or pip install -e)") from None
            if not Path(model).is_file():
                reason = "not a file"  # a pipe or a folder: onnxruntime's words are about protobufs
            elif not os.access(model, os.R_OK):
                reason = "permission denied"
        raise ModelError(f"{name}: not a model onnxruntime can load ({reason[-200:]})") from None
