"""engine/runners: the learned models, each run by onnxruntime from its shipped weights."""

from pathlib import Path

#: Where the shipped ONNX weights live (``resources/models``), the one definition for every runner.
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"
