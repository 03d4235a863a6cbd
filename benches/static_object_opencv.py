"""The baseline of benches/static_object.rs: OpenCV's own background subtractors (MOG2, and the two
of them a dual-background abandoned-object detector runs: a long-term and a short-term one) on the
same 1080p street photo, one thread. Prints ms per frame."""

import sys
import time

import cv2

cv2.setNumThreads(1)
frame = cv2.resize(cv2.imread(sys.argv[1]), (1920, 1080), interpolation=cv2.INTER_LINEAR)
rounds = int(sys.argv[2])
long_term = cv2.createBackgroundSubtractorMOG2(history=500, detectShadows=False)
short_term = cv2.createBackgroundSubtractorMOG2(history=15, detectShadows=False)
for _ in range(10):
    long_term.apply(frame)
    short_term.apply(frame)
started = time.perf_counter()
for _ in range(rounds):
    long_term.apply(frame)
    short_term.apply(frame)
print(f"{(time.perf_counter() - started) * 1000 / rounds:.2f}")
