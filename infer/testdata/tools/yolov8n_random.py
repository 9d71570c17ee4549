#!/usr/bin/python3
"""Exports a model with exactly YOLOv8n's architecture (3.16 M parameters with
80 classes), random weights, for timing vise-infer only:

    /usr/bin/python3 infer/testdata/tools/yolov8n_random.py /tmp/yolov8n-random.onnx

Input images [1,3,640,640], output [1,84,8400]: the Ultralytics export
contract, DFL box decoding included. Not committed (12 MB, meaningless
weights)."""
import sys
import torch
import torch.nn as nn
import onnx


def autopad(k):
    return k // 2


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k), bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c_, 1), Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc, self.reg = nc, 16
        c2, c3 = max(16, ch[0] // 4, 64), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 64, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = nn.Conv2d(16, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(16, dtype=torch.float).view(1, 16, 1, 1)

    def forward(self, xs):
        boxes, scores, anchors, strides = [], [], [], []
        for i, (x, s) in enumerate(zip(xs, (8, 16, 32))):
            b, _, h, w = x.shape
            boxes.append(self.cv2[i](x).view(b, 64, -1))
            scores.append(self.cv3[i](x).view(b, self.nc, -1))
            sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), float(s)))
        box = torch.cat(boxes, 2)
        anchor = torch.cat(anchors).transpose(0, 1).unsqueeze(0)
        stride = torch.cat(strides).transpose(0, 1)
        d = self.dfl(box.view(1, 4, 16, -1).transpose(2, 1).softmax(1)).view(1, 4, -1)
        lt, rb = d.chunk(2, 1)
        x1y1, x2y2 = anchor - lt, anchor + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * stride
        return torch.cat((xywh, torch.cat(scores, 2).sigmoid()), 1).float()


class YOLOv8n(nn.Module):
    def __init__(self, nc=80):
        super().__init__()
        self.b0, self.b1, self.b2 = Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True)
        self.b3, self.b4 = Conv(32, 64, 3, 2), C2f(64, 64, 2, True)
        self.b5, self.b6 = Conv(64, 128, 3, 2), C2f(128, 128, 2, True)
        self.b7, self.b8, self.b9 = Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h12, self.h15 = C2f(384, 128, 1), C2f(192, 64, 1)
        self.h16, self.h18 = Conv(64, 64, 3, 2), C2f(192, 128, 1)
        self.h19, self.h21 = Conv(128, 128, 3, 2), C2f(384, 256, 1)
        self.detect = Detect(nc, (64, 128, 256))

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        h15 = self.h15(torch.cat((self.up(h12), p3), 1))
        h18 = self.h18(torch.cat((self.h16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.h19(h18), p5), 1))
        return self.detect([h15, h18, h21])


torch.manual_seed(0)
m = YOLOv8n().eval()
print("parameters:", sum(p.numel() for p in m.parameters()))
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/yolov8n-random.onnx"
torch.onnx.export(m, torch.zeros(1, 3, 640, 640), out, input_names=["images"], output_names=["output0"], opset_version=17)
mp = onnx.load(out)
mp.metadata_props.add(key="names", value="{" + ", ".join(f"{i}: 'class{i}'" for i in range(80)) + "}")
onnx.save(mp, out)
print(out, [d.dim_value for d in mp.graph.output[0].type.tensor_type.shape.dim])
