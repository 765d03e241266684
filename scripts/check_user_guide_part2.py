#!/usr/bin/python3
"""Checks Part 2 of docs/user-guide.md end to end: your own images and models from PyTorch.

Run with Debian's Python (it has torch and PIL) after building:

    /usr/bin/python3 scripts/check_user_guide_part2.py [--cli build/dev/app/kdstudio-cli]

It does what the guide tells a user to do, in a temporary folder:

1. writes an image-folder dataset (three Fashion-MNIST classes as 32x32 RGB PNGs,
   train/<class>/*.png and test/<class>/*.png);
2. trains a small CNN teacher in PyTorch and exports it with torch.jit.script and the
   kdstudio.json extra file, exactly as the guide shows; makes an untrained TorchScript student;
3. opens both with `kdstudio-cli inspect` (the layer partition must verify);
4. distills with method "ours" (`kdstudio-cli train`) and exports the TorchScript student;
5. loads the export back with torch.jit.load, standardizes the test images as KD Studio does
   (per-channel mean and population std of the training split, in float32) and checks that its
   accuracy equals result.json's last_test_acc.

Prints each step and exits non-zero on the first failure.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = {0: "tshirt", 1: "trouser", 7: "sneaker"}  # Fashion-MNIST label -> folder name
PER_CLASS = {"train": 200, "test": 50}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def write_folder(root):
    """The dataset as a user would have it: one folder per class and split."""
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
        for label, name in CLASSES.items():
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            rows = (labels == label).nonzero().flatten()[:PER_CLASS[split]]
            for i, r in enumerate(rows.tolist()):
                grey = Image.fromarray(images[r].numpy()).resize((32, 32), Image.BILINEAR)
                Image.merge("RGB", (grey, grey, grey)).save(os.path.join(folder, f"{i:04d}.png"))


def load_folder(root, split):
    """Images (N,3,32,32 uint8) and labels in KD Studio's class order (sorted folder names)."""
    names = sorted(os.listdir(os.path.join(root, split)))
    xs, ys = [], []
    for c, name in enumerate(names):
        folder = os.path.join(root, split, name)
        for f in sorted(os.listdir(folder)):
            img = Image.open(os.path.join(folder, f)).convert("RGB")
            xs.append(torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(32, 32, 3).permute(2, 0, 1))
            ys.append(c)
    return torch.stack(xs), torch.tensor(ys)


def standardize(x, train):
    """KD Studio's input: (x/255 - mean)/std per channel, stats of the whole training split."""
    t = train.double() / 255
    mean = t.mean(dim=(0, 2, 3)).float()
    std = t.std(dim=(0, 2, 3), unbiased=False).float()
    return (x.float() / 255 - mean[None, :, None, None]) / std[None, :, None, None]


class MyNet(torch.nn.Module):
    """A user's own small CNN."""

    def __init__(self, num_classes=3, width=16):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, padding=1), torch.nn.BatchNorm2d(width), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(width, 2 * width, 3, padding=1), torch.nn.BatchNorm2d(2 * width), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(2 * width, 4 * width, 3, padding=1), torch.nn.BatchNorm2d(4 * width), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.fc = torch.nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def export(model, path):
    """The guide's export lines."""
    scripted = torch.jit.script(model.eval())
    scripted.save(path, _extra_files={"kdstudio.json": json.dumps({"input_shape": [3, 32, 32], "num_classes": 3})})


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cli", default="build/dev/app/kdstudio-cli")
    cli = os.path.abspath(p.parse_args().cli)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "clothes")
        write_folder(data)
        train_x, train_y = load_folder(data, "train")
        test_x, test_y = load_folder(data, "test")
        print(f"1. image folder: {len(train_y)} training and {len(test_y)} test images, classes {sorted(CLASSES.values())}")

        teacher = MyNet(width=16)
        opt = torch.optim.Adam(teacher.parameters(), lr=3e-3)
        xs = standardize(train_x, train_x)
        for _ in range(4):
            perm = torch.randperm(len(train_y))
            for i in range(0, len(perm), 50):
                b = perm[i:i + 50]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(teacher(xs[b]), train_y[b]).backward()
                opt.step()
        teacher.eval()
        with torch.no_grad():
            acc = (teacher(standardize(test_x, train_x)).argmax(1) == test_y).float().mean().item() * 100
        print(f"2. PyTorch teacher: {acc:.1f}% test accuracy")
        export(teacher, os.path.join(tmp, "teacher.pt"))
        export(MyNet(width=8), os.path.join(tmp, "student.pt"))

        for name in ("teacher.pt", "student.pt"):
            info = json.loads(run([cli, "inspect", "-m", os.path.join(tmp, name), "--json"]))
            layers = len(info["layers"])
            print(f"3. {name}: {layers} generalized layers")
            if layers < 2:
                sys.exit(f"{name}: the layer partition did not verify")

        config = {
            "name": "clothes-ours",
            "dataset": f"folder:{data}?size=32",
            "teacher": os.path.join(tmp, "teacher.pt"),
            "student": os.path.join(tmp, "student.pt"),
            "method": "ours",
            "teacher_layers": "standard",
            "epochs": 3,
            "batch_size": 50,
            "seeds": 1,
            "device": "cpu",
        }
        with open(os.path.join(tmp, "clothes.json"), "w") as f:
            json.dump(config, f)
        run([cli, "train", "--config", os.path.join(tmp, "clothes.json"), "--out", os.path.join(tmp, "runs")])
        runs = os.path.join(tmp, "runs")
        run_dir = os.path.join(runs, os.listdir(runs)[0])
        result = json.load(open(os.path.join(run_dir, "result.json")))
        last = result["seeds"][0]["last_test_acc"]
        print(f"4. distilled: last test accuracy {last:.2f}% ({run_dir})")

        out = os.path.join(tmp, "clothes-student.pt")
        run([cli, "export", run_dir, "--format", "torchscript", "--out", out])
        student = torch.jit.load(out)
        student.eval()
        with torch.no_grad():
            predictions = student(standardize(test_x, train_x)).argmax(1)
        ours = (predictions == test_y).float().mean().item() * 100
        print(f"5. exported student in PyTorch: {ours:.2f}% (KD Studio: {last:.2f}%)")
        # Same images right: the percentages agree to float32 rounding (one image is 0.67%).
        if abs(ours - last) > 1e-3:
            sys.exit("the exported student's accuracy in PyTorch differs from the run's")
    print("user guide part 2: OK")


if __name__ == "__main__":
    main()
