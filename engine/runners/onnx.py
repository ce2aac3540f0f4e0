"""ONNX Runtime sessions: CUDA when it really works, CPU otherwise, and no log spam either way.

``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on machines without a GPU
or CUDA libraries; asking for it there logs an error and a warning before falling back to CPU.
So CUDA is only tried when an NVIDIA device node exists, with the runtime's logger silenced for
that one attempt, and the outcome is cached per process.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

import onnxruntime as ort

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


@lru_cache(maxsize=1)
def cuda_works() -> bool:
    """True when a CUDA session can actually be created (checked once, silently)."""
    if os.environ.get("RETOUCH_NO_CUDA") or CUDA not in ort.get_available_providers():
        return False
    if not _has_nvidia_device():
        return False
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    so = options()
    so.log_severity_level = 4
    ort.set_default_logger_severity(4)
    try:
        s = ort.InferenceSession(model.SerializeToString(), so, providers=[CUDA, CPU])
        return s.get_providers()[0] == CUDA
    except Exception:
        return False
    finally:
        ort.set_default_logger_severity(3)


def session(model: str | Path | bytes, *, prefer_gpu: bool = True,
            threads: int | None = None) -> tuple[ort.InferenceSession, str]:
    """An inference session and the device it runs on (``"CUDA"`` or ``"CPU"``)."""
    src = model if isinstance(model, bytes) else str(model)
    if prefer_gpu and cuda_works():
        try:
            s = ort.InferenceSession(src, options(threads), providers=[CUDA, CPU])
            if s.get_providers()[0] == CUDA:
                return s, "CUDA"
        except Exception:  # a model-specific CUDA failure: the CPU session below still works
            pass
    return ort.InferenceSession(src, options(threads), providers=[CPU]), "CPU"
