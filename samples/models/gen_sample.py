#!/usr/bin/python3
"""Makes samples/models/sample-tiny.onnx: a tiny, UNTRAINED detector in the
exact YOLOv8 ONNX export contract (see DESIGN.md "The model contract").

It is a placeholder that lets the registry, the demo and the tests handle a
real ONNX file from a real exporter until the trainer commits a trained model.

  input  `images`  float32 [1, 3, 320, 320]  (RGB, 0..1, letterboxed)
  output `output0` float32 [1, 4 + nc, N]    rows cx, cy, w, h in network
         pixels, then nc sigmoid class scores, no objectness; nc = 1,
         N = 40*40 + 20*20 + 10*10 = 2100 anchors (strides 8, 16, 32)
  metadata `names` = "{0: 'scratch'}" as Ultralytics writes it

Run from the repository root with Debian's torch and onnx:
  /usr/bin/python3 samples/models/gen_sample.py
"""
import torch
import torch.nn as nn
import onnx

torch.manual_seed(0)
SIZE, NC = 320, 1


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        act = nn.SiLU()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), act, nn.Conv2d(8, 16, 3, 2, 1), act,
                                  nn.Conv2d(16, 16, 3, 2, 1), act)           # stride 8
        self.down16 = nn.Sequential(nn.Conv2d(16, 24, 3, 2, 1), act)        # stride 16
        self.down32 = nn.Sequential(nn.Conv2d(24, 32, 3, 2, 1), act)        # stride 32
        self.heads = nn.ModuleList(nn.Conv2d(c, 4 + NC, 1) for c in (16, 24, 32))

    def forward(self, x):
        p8 = self.stem(x)
        p16 = self.down16(p8)
        p32 = self.down32(p16)
        outs = []
        for feat, head, stride in zip((p8, p16, p32), self.heads, (8, 16, 32)):
            y = head(feat)                                  # [1, 4+nc, h, w]
            _, _, h, w = y.shape
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack((gx, gy)).float().view(1, 2, h, w)
            xy = (y[:, 0:2].sigmoid() * 2 - 0.5 + grid) * stride
            wh = (y[:, 2:4].sigmoid() * 4) ** 2 * stride
            cls = y[:, 4:].sigmoid()
            outs.append(torch.cat((xy, wh, cls), 1).view(1, 4 + NC, h * w))
        return torch.cat(outs, 2)                           # [1, 4+nc, 2100]


model = Tiny().eval()
path = "samples/models/sample-tiny.onnx"
torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), path, input_names=["images"],
                  output_names=["output0"], opset_version=17, do_constant_folding=True)
m = onnx.load(path)
for k, v in {"description": "Vise sample: untrained YOLOv8-contract placeholder", "author": "Vise",
             "task": "detect", "stride": "32", "batch": "1", "imgsz": f"[{SIZE}, {SIZE}]",
             "names": "{0: 'scratch'}"}.items():
    m.metadata_props.add(key=k, value=v)
onnx.checker.check_model(m)
onnx.save(m, path)
print(path, [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim])
