"""The learned meter (``engine.runners.meter``): data, fit, ONNX export and evaluation."""
