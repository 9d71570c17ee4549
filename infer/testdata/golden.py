#!/usr/bin/python3
"""Makes the golden files infer's tests compare against, with a different
implementation: OpenCV (cv2.imread and the LetterBox code Ultralytics runs)
for preprocessing, numpy for decoding and NMS. Run from this directory with
Debian's packages (python3-opencv, python3-numpy):

    /usr/bin/python3 golden.py

Reads tag-a.jpg and tag-b.jpg (photographs, see LICENSE-images.txt) and
writes:
  colour.jpg                     a synthetic, colourful 4:2:0 JPEG of odd size (the
                                 photographs are nearly gray, so they cannot catch a
                                 swapped channel or wrong chroma upsampling)
  <image>.letterbox-<W>x<H>.png  each image letterboxed as Ultralytics does it (an
                                 ordinary RGB PNG: cv2.imwrite takes BGR and stores RGB)
  raw.bin                        a deterministic raw output [1, 4+nc, N], float32 LE
  golden.json                    letterbox geometry, and the detections numpy finds
                                 in raw.bin for tag-a.jpg (conf 0.25, IoU 0.45)
"""
import json
import cv2
import numpy as np

NET_W, NET_H, NC, N = 320, 256, 2, 400


def letterbox(img, new_shape):
    # Ultralytics LetterBox(auto=False, scaleup=True, center=True)
    shape = img.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return img, r, left, top


def colour_image():
    rng = np.random.default_rng(3)
    img = np.full((301, 401, 3), (40, 90, 160), np.uint8)
    for _ in range(30):
        centre = tuple(int(v) for v in rng.integers(0, 300, 2))
        cv2.circle(img, centre, int(rng.integers(5, 60)), tuple(int(v) for v in rng.integers(0, 256, 3)), -1)
        p, q = tuple(int(v) for v in rng.integers(0, 300, 2)), tuple(int(v) for v in rng.integers(0, 400, 2))
        cv2.rectangle(img, p, q, tuple(int(v) for v in rng.integers(0, 256, 3)), int(rng.integers(1, 6)))
    cv2.imwrite("colour.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])  # libjpeg's default 4:2:0


colour_image()
golden = {"net_w": NET_W, "net_h": NET_H, "nc": NC, "n": N, "images": {}}
for name in ("tag-a.jpg", "tag-b.jpg", "colour.jpg"):
    bgr = cv2.imread(name)
    lb, r, left, top = letterbox(bgr, (NET_H, NET_W))
    cv2.imwrite(f"{name}.letterbox-{NET_W}x{NET_H}.png", lb)
    golden["images"][name] = {"scale": r, "pad_x": left, "pad_y": top, "width": bgr.shape[1], "height": bgr.shape[0]}

rng = np.random.default_rng(7)
raw = np.zeros((4 + NC, N), np.float32)
centres = rng.uniform([20, 40], [NET_W - 20, NET_H - 40], size=(40, 2))
for i in range(N):  # clusters of overlapping boxes around a few centres
    cx, cy = centres[i % 40] + rng.normal(0, 6, 2)
    raw[0:4, i] = [cx, cy, rng.uniform(10, 80), rng.uniform(10, 60)]
    raw[4 + (i % 40) % NC, i] = rng.uniform(0, 1)
raw.tofile("raw.bin")

# decode: best class per anchor, threshold (strictly above, as Ultralytics'
# non_max_suppression), class-aware NMS by descending score
conf, iou_t = 0.25, 0.45
scores = raw[4:].max(0)
classes = raw[4:].argmax(0)
keep_idx = np.nonzero(scores > conf)[0]
order = keep_idx[np.argsort(-scores[keep_idx], kind="stable")]
xyxy = np.stack([raw[0] - raw[2] / 2, raw[1] - raw[3] / 2, raw[0] + raw[2] / 2, raw[1] + raw[3] / 2], 1)
kept = []
for i in order:
    ok = True
    for j in kept:
        if classes[i] != classes[j]:
            continue
        a, b = xyxy[i], xyxy[j]
        iw = min(a[2], b[2]) - max(a[0], b[0])
        ih = min(a[3], b[3]) - max(a[1], b[1])
        if iw <= 0 or ih <= 0:
            continue
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        if inter / union > iou_t:
            ok = False
            break
    if ok:
        kept.append(i)
g = golden["images"]["tag-a.jpg"]
dets = []
for i in kept:
    x1, y1, x2, y2 = xyxy[i]
    x1 = np.clip((x1 - g["pad_x"]) / g["scale"], 0, g["width"])
    y1 = np.clip((y1 - g["pad_y"]) / g["scale"], 0, g["height"])
    x2 = np.clip((x2 - g["pad_x"]) / g["scale"], 0, g["width"])
    y2 = np.clip((y2 - g["pad_y"]) / g["scale"], 0, g["height"])
    dets.append({"class_id": int(classes[i]), "confidence": float(scores[i]),
                 "box": {"x": float(x1), "y": float(y1), "width": float(x2 - x1), "height": float(y2 - y1)}})
golden["detections"] = dets
with open("golden.json", "w") as f:
    json.dump(golden, f, indent=1)
print(len(dets), "detections;", {k: v for k, v in golden["images"].items()})
