"""Store an ONNX model's weights in fp16, computing in fp32: ``python -m models.onnx_fp16 IN -o OUT``.

Every float32 initializer of at least ``MIN_ELEMENTS`` values is stored as fp16 and cast back to
fp32 by a ``Cast`` node in front of the graph. The arithmetic is unchanged (onnxruntime folds the
casts into fp32 constants when it loads the model, so inference costs the same); only the
weights are rounded, to 11 significant bits. Half the file, for weights committed to git. Inputs,
outputs and metadata (the policy's ``retouch`` key) are kept as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.atomic import atomic_write_bytes

MIN_ELEMENTS = 1024  # smaller tensors (biases, norms) stay fp32: they weigh nothing
FP16_MAX = 65504.0


def store_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with its large float32 weights stored as fp16 (see the module doc)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inputs = {i.name for i in graph.input}
    kept, casts = [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or w.size < MIN_ELEMENTS or init.name in inputs:
            kept.append(init)
            continue
        if np.abs(w).max() > FP16_MAX:
            raise ValueError(f"{init.name}: weights beyond fp16's range ({np.abs(w).max():g})")
        half = numpy_helper.from_array(w.astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="ONNX model with fp32 weights")
    ap.add_argument("-o", "--output", type=Path, required=True, help="ONNX model to write")
    args = ap.parse_args(argv)
    small = store_fp16(onnx.load(str(args.model)))
    atomic_write_bytes(args.output, small.SerializeToString())
    before, after = args.model.stat().st_size, args.output.stat().st_size
    print(f"{args.output}: {after / 1e6:.2f} MB ({before / 1e6:.2f} MB in fp32)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
