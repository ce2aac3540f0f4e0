"""engine/runners: the learned models, each run by onnxruntime from its shipped weights."""

from pathlib import Path

#: Where the shipped ONNX weights live (``resources/models``), the one definition for every runner.
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"


class ModelError(ValueError):
    """A model file that cannot be used (not ONNX, truncated, or not the model it should be):
    the message names the file and says why, for one line of the CLI or the app's status bar."""
