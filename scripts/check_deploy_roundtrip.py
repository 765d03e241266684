#!/usr/bin/python3
"""Checks KD Studio's exports of one student from the PyTorch side (docs/deploy.md).

    /usr/bin/python3 scripts/check_deploy_roundtrip.py --cli build/dev/app/kdstudio-cli \\
        --safetensors student.kdmodel --onnx student.onnx [--torchscript student.pt] IMAGE...

- ONNX: python3-onnx's checker (full check) and strict shape inference pass; the metadata_props
  hold the kd.* preprocessing keys, equal to the safetensors file's.
- safetensors: scripts/kdstudio_zoo.py rebuilds the student in PyTorch; the images, read here
  with PIL and standardized with the file's own kd.mean / kd.std, give top-3 classes and
  probabilities equal (within 1e-4) to `kdstudio-cli predict --json` on the ONNX file (run by
  OpenCV's DNN module) and on the safetensors file (LibTorch).
- TorchScript (optional): torch.jit.load with the kdstudio.json extra file; its kd.* keys parse
  and its predictions equal the ONNX file's top-1.
Exit status 0 when everything agrees; each disagreement is printed.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdstudio_zoo as zoo  # noqa: E402

TOL = 1e-4


def read_images(paths, channels):
    xs = []
    for p in paths:
        img = Image.open(p).convert("L" if channels == 1 else "RGB")
        a = np.asarray(img, dtype=np.uint8)
        a = a[None, :, :] if channels == 1 else a.transpose(2, 0, 1)
        xs.append(torch.from_numpy(a.copy()).float() / 255)
    return torch.stack(xs)


def preprocess(x, meta):
    c = x.shape[1]
    mean = torch.tensor(json.loads(meta["kd.mean"]), dtype=torch.float32).reshape(1, c, 1, 1)
    std = torch.tensor(json.loads(meta["kd.std"]), dtype=torch.float32).reshape(1, c, 1, 1)
    std = torch.where(std == 0, torch.ones_like(std), std)
    return (x - mean) / std


def predict_json(cli, model, images):
    out = subprocess.run([cli, "predict", model, *images, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--safetensors", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--torchscript")
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    problems = []

    model_proto = onnx.load(a.onnx)
    onnx.checker.check_model(model_proto, full_check=True)
    onnx.shape_inference.infer_shapes(model_proto, check_type=True, strict_mode=True)
    onnx_meta = {p.key: p.value for p in model_proto.metadata_props}
    print(f"onnx {onnx.__version__}: checker (full) and strict shape inference passed; opset "
          f"{model_proto.opset_import[0].version}, {len(model_proto.graph.node)} nodes")

    student, meta = zoo.load_model(a.safetensors)
    for key in ("kd.input", "kd.mean", "kd.std", "kd.class_names"):
        if onnx_meta.get(key) != meta.get(key):
            problems.append(f"{key}: ONNX {onnx_meta.get(key)!r} != safetensors {meta.get(key)!r}")
    names = json.loads(meta["kd.class_names"])
    channels = int(meta["kd.input"].split("x")[0])
    x = read_images(a.images, channels)
    with torch.no_grad():
        probs = torch.softmax(student(preprocess(x, meta)), 1)
    top = probs.topk(3, 1)
    print(f"PyTorch {torch.__version__}: {meta['architecture']} rebuilt by kdstudio_zoo.py, "
          f"{len(a.images)} images")

    for label, model in (("ONNX in OpenCV (kdstudio-cli predict)", a.onnx),
                         ("safetensors in LibTorch (kdstudio-cli predict)", a.safetensors)):
        got = predict_json(a.cli, model, a.images)["predictions"]
        worst = 0.0
        for i, g in enumerate(got):
            for j, entry in enumerate(g["top"]):
                if entry["class"] != top.indices[i, j].item():
                    problems.append(f"{label}: image {i} rank {j}: class {entry['class']} != PyTorch's "
                                    f"{top.indices[i, j].item()}")
                worst = max(worst, abs(entry["probability"] - top.values[i, j].item()))
                if entry["name"] != names[entry["class"]]:
                    problems.append(f"{label}: class name {entry['name']!r}")
        ok = worst <= TOL
        if not ok:
            problems.append(f"{label}: probabilities differ from PyTorch's by {worst:.2e}")
        print(f"{label}: same top-3 classes as PyTorch, largest probability difference {worst:.2e}")

    if a.torchscript:
        extra = {"kdstudio.json": ""}
        ts = torch.jit.load(a.torchscript, _extra_files=extra).eval()
        ts_meta = json.loads(extra["kdstudio.json"])
        for key in ("kd.input", "kd.mean", "kd.std", "kd.class_names"):
            if key not in ts_meta:
                problems.append(f"TorchScript: kdstudio.json has no {key}")
        with torch.no_grad():
            ts_top1 = ts(preprocess(x, ts_meta)).argmax(1)
        print(f"TorchScript: kdstudio.json carries the kd.* keys; top-1 {ts_top1.tolist()}")

    for p in problems:
        print("MISMATCH:", p)
    print("round trip:", "OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
