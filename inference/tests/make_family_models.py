"""Writes tiny ONNX detectors, one per output family, whose output is a known constant.

Each graph takes `images` [N, 3, 64, 64] and returns `output` = CONST + 0 * mean(images), so the batch
dimension follows the input (dynamic, or fixed at 1 with --fixed-batch) while the values are known.
Usage: python make_family_models.py OUT_DIR
"""

import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64


def yolox_output():
    rows = sum((SIZE // s) ** 2 for s in (8, 16, 32))
    out = np.zeros((1, rows, 7), np.float32)
    # stride-8 cell gx=2, gy=3 (row 3 * 8 + 2): centre (20, 28), size 16 x 8, class 1 at 0.9 * 0.8
    out[0, 26] = [0.5, 0.5, math.log(2.0), 0.0, 0.9, 0.1, 0.8]
    return out


def yolov5_output():
    return np.array(
        [[
            [32, 32, 20, 10, 0.9, 0.9, 0.1],  # class 0, 0.81, box 22,27,42,37
            [33, 32, 20, 10, 0.8, 0.9, 0.1],  # same object, 0.72: suppressed by NMS
            [10, 10, 4, 4, 0.2, 0.5, 0.5],  # below the threshold
        ]],
        np.float32,
    )


def yolov8_output():
    # [1, 4 + C, N]: two anchors; the first is class 1 at 0.7, box 22,27,42,37
    return np.array(
        [[[32, 5], [32, 5], [20, 2], [10, 2], [0.1, 0.2], [0.7, 0.1]]],
        np.float32,
    )


def end2end_output():
    return np.array([[[1, 2, 30, 40, 0.9, 1], [0, 0, 0, 0, 0, 0]]], np.float32)


def model(const, batch):
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])
    shape = [batch] + list(const.shape[1:])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),  # [N, 1, 1, 1]
        helper.make_node("Reshape", ["mean", "to3"], ["mean3"]),  # [N, 1, 1]
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "const"], ["output"]),  # broadcast to [N, ...]
    ]
    initializers = [
        numpy_helper.from_array(np.array([0, 1, 1], np.int64), "to3"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
        numpy_helper.from_array(const, "const"),
    ]
    graph = helper.make_graph(nodes, "family", [images], [output], initializers)
    result = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    result.ir_version = 8
    onnx.checker.check_model(result)
    return result


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, const in [
        ("yolox", yolox_output()),
        ("yolov5", yolov5_output()),
        ("yolov8", yolov8_output()),
        ("end2end", end2end_output()),
    ]:
        onnx.save(model(const, "N"), out / f"{name}.onnx")
        onnx.save(model(const, 1), out / f"{name}_fixed.onnx")


if __name__ == "__main__":
    main()
