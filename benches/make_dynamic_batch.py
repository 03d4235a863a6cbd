"""Writes a copy of an exported YOLOX model whose batch dimension is dynamic.

The YOLOX export fixes the batch at 1 in its input, its output and the shape constants of its final
Reshape nodes ([1, 85, -1]); setting those to `N` and 0 ("copy the input's dimension") lets one session
call take a batch of frames. Usage: make_dynamic_batch.py IN.onnx OUT.onnx
"""

import sys

import onnx
from onnx import numpy_helper


def main():
    model = onnx.load(sys.argv[1])
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    reshape_shapes = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    for initializer in model.graph.initializer:
        if initializer.name in reshape_shapes:
            shape = numpy_helper.to_array(initializer).copy()
            if shape[0] == 1:
                shape[0] = 0
                initializer.CopyFrom(numpy_helper.from_array(shape, initializer.name))
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
