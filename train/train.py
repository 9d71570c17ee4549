#!/usr/bin/python3
"""Vise's trainer: a compact anchor-free detector for a YOLO-layout dataset,
trained on CPU in minutes, exported to ONNX in the YOLOv8 output contract
(input `images` [1,3,S,S]; output [1, 4+nc, N] of cx, cy, w, h in network
pixels then nc sigmoid class scores; class names in the `names` metadata),
so vise-infer runs it exactly as it runs an Ultralytics export.

Run with Debian's python3-torch and python3-onnx:

    /usr/bin/python3 train/train.py --dataset ../shared/datasets/metal-tags \\
        --out samples/models/metal-tags.onnx --val-list samples/models/metal-tags.val.txt

The validation split is the dataset's own when it has a val.txt (an
exported dataset version does), else by camera shot (the part of the file
name before `-cropped-`): the crops of one shot look alike and must not
straddle the split. Everything is seeded, so a run is reproducible on the same machine.
Progress lines are JSON on stdout ({"epoch": .., "loss": ..}).
"""
import argparse, hashlib, json, math, os, random, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

STRIDES = (8, 16, 32)


def log(**kw):
    print(json.dumps(kw), flush=True)


# ---------------------------------------------------------------- data
def load_dataset(root):
    names = {0: "scratch"}
    yaml = os.path.join(root, "data.yaml")
    if os.path.exists(yaml):
        lines = open(yaml).read().splitlines()
        if "names:" in lines:
            names = {}
            for l in lines[lines.index("names:") + 1:]:
                if ":" not in l or not l.startswith(" "):
                    break
                k, v = l.strip().split(":", 1)
                v = v.strip()
                if v[:1] in "\"'" and len(v) > 1 and v[-1] == v[0]:
                    v = json.loads(v) if v[0] == '"' else v[1:-1]  # an export writes quoted names
                names[int(k)] = v
    items = []
    for f in sorted(os.listdir(os.path.join(root, "images"))):
        if not f.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        lab = os.path.join(root, "labels", os.path.splitext(f)[0] + ".txt")
        if not os.path.exists(lab):
            continue  # unlabelled: a labelling job has work to do
        boxes = [list(map(float, l.split())) for l in open(lab) if l.strip()]
        items.append((os.path.join(root, "images", f), np.array(boxes, np.float32).reshape(-1, 5)))
    return items, [names[i] for i in sorted(names)]


def shot(path):
    return os.path.basename(path).split("-cropped-")[0]


def split(items, every, root):
    listed = os.path.join(root, "val.txt")
    if os.path.exists(listed):  # a dataset version's own split (vise dataset export)
        val = {os.path.basename(l.strip()) for l in open(listed) if l.strip()}
        return [it for it in items if os.path.basename(it[0]) not in val], [it for it in items if os.path.basename(it[0]) in val]
    shots = sorted({shot(p) for p, _ in items})
    val = {s for i, s in enumerate(shots) if i % every == every - 1}
    return [it for it in items if shot(it[0]) not in val], [it for it in items if shot(it[0]) in val]


def digest(items):
    h = hashlib.sha256()
    for p, b in items:
        h.update(open(p, "rb").read())
        h.update(b.tobytes())
    return h.hexdigest()


def letterbox(img, size, scale_jitter=1.0, shift=(0.0, 0.0)):
    """Ultralytics-style letterbox (gray 114), with optional scale/shift for
    augmentation. Returns the CHW float array and the (scale, padx, pady)."""
    w, h = img.size
    r = min(size / w, size / h) * scale_jitter
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    px = round((size - nw) / 2 - 0.1 + shift[0] * size)
    py = round((size - nh) / 2 - 0.1 + shift[1] * size)
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), (px, py))
    return np.asarray(canvas, np.float32).transpose(2, 0, 1) / 255.0, (r, px, py)


def sample(item, size, augment, rng):
    path, lab = item
    try:
        img = Image.open(path).convert("RGB")
    except Exception as e:  # name the file: the traceback would not
        sys.exit(f"train: cannot read image {path}: {e!r}")
    w, h = img.size
    boxes = lab.copy()
    if augment and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT); boxes[:, 1] = 1 - boxes[:, 1]
    if augment and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_TOP_BOTTOM); boxes[:, 2] = 1 - boxes[:, 2]
    sj = rng.uniform(0.75, 1.25) if augment else 1.0
    sh = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)) if augment else (0.0, 0.0)
    x, (r, px, py) = letterbox(img, size, sj, sh)
    if augment:  # brightness / contrast
        x = np.clip((x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.1, 0.1), 0, 1)
    xyxy = np.stack([(boxes[:, 1] - boxes[:, 3] / 2) * w * r + px, (boxes[:, 2] - boxes[:, 4] / 2) * h * r + py,
                     (boxes[:, 1] + boxes[:, 3] / 2) * w * r + px, (boxes[:, 2] + boxes[:, 4] / 2) * h * r + py], 1)
    xyxy = np.clip(xyxy, 0, size)
    keep = ((xyxy[:, 2] - xyxy[:, 0]) > 2) & ((xyxy[:, 3] - xyxy[:, 1]) > 2)
    return x.astype(np.float32), np.concatenate([boxes[keep, :1], xyxy[keep]], 1)


# ---------------------------------------------------------------- model
class Conv(nn.Sequential):
    def __init__(self, c1, c2, k=3, s=1):
        super().__init__(nn.Conv2d(c1, c2, k, s, k // 2, bias=False), nn.BatchNorm2d(c2), nn.SiLU())


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = Conv(c, c // 2, 1), Conv(c // 2, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class Detector(nn.Module):
    def __init__(self, nc, size):
        super().__init__()
        self.nc, self.size = nc, size
        self.stem = nn.Sequential(Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), Block(32))
        self.s8 = nn.Sequential(Conv(32, 64, 3, 2), Block(64), Block(64))
        self.s16 = nn.Sequential(Conv(64, 128, 3, 2), Block(128), Block(128))
        self.s32 = nn.Sequential(Conv(128, 192, 3, 2), Block(192))
        self.lat16, self.lat8 = Conv(192 + 128, 128, 1), Conv(128 + 64, 64, 1)
        self.heads = nn.ModuleList(nn.Sequential(Conv(c, c, 3), nn.Conv2d(c, 4 + nc, 1)) for c in (64, 128, 192))
        for h in self.heads:  # start with low scores: most cells are background
            nn.init.constant_(h[-1].bias[4:], -4.0)
        self.grids = [self._grid(size // s, s) for s in STRIDES]

    @staticmethod
    def _grid(n, s):
        ys, xs = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
        return torch.stack(((xs + 0.5) * s, (ys + 0.5) * s), 0).view(2, -1)

    def raw(self, x):
        c8 = self.s8(self.stem(x))
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.lat16(torch.cat((F.interpolate(c32, scale_factor=2.0, mode="nearest"), c16), 1))
        p8 = self.lat8(torch.cat((F.interpolate(p16, scale_factor=2.0, mode="nearest"), c8), 1))
        outs = []
        for feat, head, s, g in zip((p8, p16, c32), self.heads, STRIDES, self.grids):
            y = head(feat).flatten(2)  # [b, 4+nc, cells]
            ltrb = F.softplus(y[:, :4]) * s
            outs.append((ltrb, y[:, 4:], g))
        ltrb = torch.cat([o[0] for o in outs], 2)
        logits = torch.cat([o[1] for o in outs], 2)
        centers = torch.cat([o[2] for o in outs], 1)
        x1y1, x2y2 = centers - ltrb[:, :2], centers + ltrb[:, 2:]
        return torch.cat((x1y1, x2y2), 1), logits  # boxes [b,4,N] xyxy, logits [b,nc,N]

    def forward(self, x):  # the exported YOLOv8 contract
        xyxy, logits = self.raw(x)
        cxcy, wh = (xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]
        return torch.cat((cxcy, wh, logits.sigmoid()), 1)


# ---------------------------------------------------------------- loss
def box_iou(a, b):  # a [n,4], b [n,4] xyxy, elementwise
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area = lambda t: (t[:, 2:] - t[:, :2]).clamp(min=0).prod(1)
    union = area(a) + area(b) - inter
    iou = inter / union.clamp(min=1e-6)
    c = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).prod(1).clamp(min=1e-6)
    return iou, iou - (c - union) / c  # IoU, GIoU


def assign(centers, gts, topk=9):
    """For each label, the topk cells whose centres are nearest its centre
    among those inside the box become positives (a cell claimed twice goes
    to the smaller box). Returns per-cell label index, -1 for background."""
    n = centers.shape[1]
    owner = torch.full((n,), -1, dtype=torch.long)
    best_area = torch.full((n,), float("inf"))
    for i, g in enumerate(gts):
        x1, y1, x2, y2 = g[1:]
        inside = (centers[0] > x1) & (centers[0] < x2) & (centers[1] > y1) & (centers[1] < y2)
        idx = inside.nonzero().flatten()
        if len(idx) == 0:  # tiny box: take the nearest cell
            d = (centers[0] - (x1 + x2) / 2) ** 2 + (centers[1] - (y1 + y2) / 2) ** 2
            idx = d.argmin().view(1)
        d = (centers[0, idx] - (x1 + x2) / 2) ** 2 + (centers[1, idx] - (y1 + y2) / 2) ** 2
        idx = idx[d.argsort()[:topk]]
        area = float((x2 - x1) * (y2 - y1))
        better = best_area[idx] > area
        owner[idx[better]], best_area[idx[better]] = i, area
    return owner


def loss_fn(model, x, targets):
    xyxy, logits = model.raw(x)
    centers = torch.cat(model.grids, 1)
    cls_t = torch.zeros_like(logits)
    box_losses, npos = [], 0
    for b, gts in enumerate(targets):
        if len(gts) == 0:
            continue
        g = torch.as_tensor(gts)
        owner = assign(centers, g)
        pos = (owner >= 0).nonzero().flatten()
        if len(pos) == 0:
            continue
        gt_boxes, gt_cls = g[owner[pos], 1:], g[owner[pos], 0].long()
        iou, giou = box_iou(xyxy[b, :, pos].T, gt_boxes)
        box_losses.append((1 - giou).sum())
        cls_t[b, gt_cls, pos] = iou.detach().clamp(min=0.1)  # quality-aware score target
        npos += len(pos)
    npos = max(npos, 1)
    p = logits.sigmoid()
    w = (p - cls_t).abs().pow(2.0)  # focal-style weight: easy cells count little
    cls = (F.binary_cross_entropy_with_logits(logits, cls_t, reduction="none") * w).sum() / npos
    box = torch.stack(box_losses).sum() / npos if box_losses else logits.sum() * 0
    return cls + 2.5 * box, float(cls), float(box)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--val-list", help="write the validation image names here")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--val-every-shot", type=int, default=5, help="every Nth camera shot goes to validation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed); random.seed(a.seed); np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    items, names = load_dataset(a.dataset)
    if not items:
        sys.exit(f"train: no labelled images in {a.dataset}/images (YOLO layout: images/ and labels/)")
    train, val = split(items, a.val_every_shot, a.dataset)
    if not train:
        sys.exit(f"train: every image of {a.dataset} is in the validation split (val.txt): nothing to train on")
    log(event="dataset", images=len(items), train=len(train), val=len(val), classes=names, digest=digest(items))
    if a.val_list:
        with open(a.val_list, "w") as f:
            f.write("\n".join(os.path.basename(p) for p, _ in val) + "\n")
    model = Detector(len(names), a.size)
    log(event="model", parameters=sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=5e-4)
    steps = a.epochs * math.ceil(len(train) / a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.1)
    rng = random.Random(a.seed)
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = list(range(len(train))); rng.shuffle(order)
        tot = n = 0
        for i in range(0, len(order), a.batch):
            batch = [sample(train[j], a.size, True, rng) for j in order[i:i + a.batch]]
            x = torch.from_numpy(np.stack([b[0] for b in batch]))
            loss, _, _ = loss_fn(model, x, [b[1] for b in batch])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            tot += float(loss); n += 1
        log(event="epoch", epoch=epoch + 1, epochs=a.epochs, loss=round(tot / n, 4), seconds=round(time.time() - start, 1))
    model.eval()
    export(model, a, names, digest(items))


def export(model, a, names, data_digest):
    import onnx
    torch.onnx.export(model, torch.zeros(1, 3, a.size, a.size), a.out, input_names=["images"],
                      output_names=["output0"], opset_version=17, do_constant_folding=True)
    m = onnx.load(a.out)
    meta = {"names": "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}",
            "task": "detect", "imgsz": f"[{a.size}, {a.size}]", "stride": "32", "batch": "1",
            "description": "Vise metal-tags detector (train/train.py)", "author": "Vise",
            "vise_dataset_digest": data_digest,
            "vise_train_params": json.dumps({k: v for k, v in vars(a).items() if k not in ("out", "val_list", "dataset")})}
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, a.out)
    log(event="exported", path=a.out, bytes=os.path.getsize(a.out))


if __name__ == "__main__":
    main()
