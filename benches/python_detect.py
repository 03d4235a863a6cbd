"""The Python reference pipeline for YOLOX-nano: onnxruntime + numpy + Pillow.

Letterbox at the top-left (pad 114), BGR 0..255, one ONNX Runtime session, YOLOX grid decode with the
official post-processing (best class per row, score = objectness x class score >= conf, class-wise NMS),
boxes divided by the letterbox ratio. Prints the same JSON as `sharpeyes detect`.

Used as the reference by tests/detect_reference.rs and as the baseline of benches/detect_vs_python.sh.
Usage: python_detect.py MODEL.onnx [--conf 0.25] [--nms 0.45] [--threads 1] [--repeat N] IMAGE...
"""

import argparse
import json
import os

import numpy as np
import onnxruntime as ort
from PIL import Image

COCO = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
]
SIZE = 416
STRIDES = (8, 16, 32)


def letterbox(path):
    image = Image.open(path).convert("RGB")
    ratio = min(SIZE / image.width, SIZE / image.height)
    resized = image.resize((int(image.width * ratio), int(image.height * ratio)), Image.BILINEAR)
    canvas = np.full((SIZE, SIZE, 3), 114, np.uint8)
    canvas[: resized.height, : resized.width] = np.asarray(resized)
    bgr = canvas[:, :, ::-1]
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], np.float32), ratio, image.size


def grids():
    cells, strides = [], []
    for stride in STRIDES:
        n = SIZE // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def iou(box, boxes):
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area(box) + area(boxes) - inter)


def postprocess(output, ratio, size, cells, strides, conf, nms):
    out = output[0]
    centres = (out[:, :2] + cells) * strides
    sizes = np.exp(out[:, 2:4]) * strides
    classes = out[:, 5:].argmax(1)
    scores = out[:, 4] * out[np.arange(len(out)), 5 + classes]
    keep = scores >= conf
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)[keep] / ratio
    boxes = np.clip(boxes, 0, [size[0], size[1], size[0], size[1]])
    scores, classes = scores[keep], classes[keep]
    kept = []
    for c in np.unique(classes):
        index = np.where(classes == c)[0]
        index = index[np.argsort(-scores[index], kind="stable")]
        while len(index):
            best, index = index[0], index[1:]
            kept.append(best)
            index = index[iou(boxes[best], boxes[index]) <= nms]
    kept.sort(key=lambda i: -scores[i])
    return [{"class": COCO[classes[i]], "score": float(scores[i]), "box": [float(v) for v in boxes[i]]} for i in kept]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--nms", type=float, default=0.45)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    cells, strides = grids()
    results = {}
    for _ in range(args.repeat):
        for path in args.images:
            tensor, ratio, size = letterbox(path)
            output = session.run(None, {session.get_inputs()[0].name: tensor})[0]
            results[os.path.basename(path)] = postprocess(output, ratio, size, cells, strides, args.conf, args.nms)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
