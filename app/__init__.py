"""Retouch's desktop app: thin PySide6 views over the Qt-free ``engine``.

Nothing here does pixel math; decoding, rendering and inference run in worker threads
(``app/workers.py``) and results come back as Qt signals. Heavy engine modules (numba,
onnxruntime, rawpy) are imported on first use so the window opens fast.
"""

from .qtfix import ensure_none_survives

ensure_none_survives()
