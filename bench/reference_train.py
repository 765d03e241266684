#!/usr/bin/env python3
"""The PyTorch reference of the training benchmark (bench/run_benchmarks.sh).

The paper's training step written the way a competent PyTorch user would write it: the zoo
networks of scripts/kdstudio_zoo.py (the same architectures, layers and initialisation scheme as
KD Studio's), a sequential forward through the generalized layers to collect features, 1x1
convolution projectors, torch.optim.AdamW with OneCycleLR, the teacher online in eval mode under
torch.no_grad(), data already standardized in memory and served by random permutation. No
tricks (no channels_last, no fusion), and no compilation unless --compile asks for it.

--compile MODE (PyTorch 2.x) is the peer a GPU user would otherwise pick: torch.compile in MODE
("default", "reduce-overhead": CUDA graphs replayed by Inductor, "max-autotune") on the training
step's forward (teacher and student, losses; AOTAutograd compiles its backward) and on the
optimizer step, with the learning rate held in a tensor so that OneCycleLR does not recompile.
The warm-up steps include the compilation; their time is reported apart ("compile_seconds"), and
images/s counts only the steps after them.

Methods (docs/method.md):
  ours     feature loss: mean over the layer pairs of MSE(proj(student feature), teacher
           feature), both average-pooled to the smaller spatial size; CE on the head computed
           from the detached deepest student feature (CE does not reach the backbone)
  kd       CE + T^2 KL(p_teacher || p_student), T = 4
  student  CE

Prints one JSON line with images/s measured after the warm-up steps.

  python3 bench/reference_train.py --method ours --teacher resnet34 --student resnet9 \
      --teacher-layers 3,7,13,16 --student-layers 1,2,3,4 --batch 128 --steps 20

--check FILE recomputes, for the batch and weights kdstudio-bench-train --mode check saved, the
losses KD Studio computed, and reports both.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import kdstudio_zoo as zoo  # noqa: E402


def ints(text):
    return [int(v) for v in text.split(",") if v.strip()] if text else []


def features(model, x, layers):
    """Outputs of the given generalized layers, one forward up to the deepest of them."""
    wanted = set(layers)
    out = {}
    for i, block in enumerate(model.layers[: max(layers) + 1]):
        x = block(x)
        if i in wanted:
            out[i] = x
    return [out[i] for i in layers]


def forward_from(model, x, layer):
    """The rest of the network after generalized layer `layer`."""
    for block in model.layers[layer + 1:]:
        x = block(x)
    return model.classifier(x)


def as_map(f):
    return f if f.dim() == 4 else f.reshape(f.size(0), f.size(1), 1, 1)


def align(s, t):
    s, t = as_map(s), as_map(t)
    size = (min(s.size(2), t.size(2)), min(s.size(3), t.size(3)))
    if tuple(s.shape[2:]) != size:
        s = F.adaptive_avg_pool2d(s, size)
    if tuple(t.shape[2:]) != size:
        t = F.adaptive_avg_pool2d(t, size)
    return s, t


class Step:
    """One method's loss, its projectors and what the teacher must provide."""

    def __init__(self, method, student, teacher, s_layers, t_layers, temperature=4.0):
        self.method, self.student, self.teacher = method, student, teacher
        self.s_layers, self.t_layers, self.T = s_layers, t_layers, temperature
        self.projectors = nn.ModuleList()
        if method == "ours":
            x = torch.zeros(2, student.spec.channels, student.spec.size, student.spec.size)
            with torch.no_grad():
                student.eval(), teacher.eval()
                sf = features(student, x, s_layers)
                tf = features(teacher, x, t_layers)
                student.train()
            for s, t in zip(sf, tf):
                self.projectors.append(nn.Conv2d(as_map(s).size(1), as_map(t).size(1), 1, bias=False))

    def teacher_outputs(self, x):
        with torch.no_grad():
            if self.method == "ours":
                return features(self.teacher, x, self.t_layers)
            if self.method == "kd":
                return self.teacher(x)
        return None

    def losses(self, x, y, targets):
        """(total, {name: value}, logits)."""
        parts = {}
        if self.method == "ours":
            sf = features(self.student, x, self.s_layers)
            deepest = max(range(len(self.s_layers)), key=lambda i: self.s_layers[i])
            logits = forward_from(self.student, sf[deepest].detach(), self.s_layers[deepest])
            feat = 0
            for proj, s, t in zip(self.projectors, sf, targets):
                s, t = align(s, t)
                feat = feat + F.mse_loss(proj(s), t)
            parts["feat"] = feat / len(sf)
        else:
            logits = self.student(x)
        parts["ce"] = F.cross_entropy(logits, y)
        if self.method == "kd":
            parts["kd"] = F.kl_div(F.log_softmax(logits / self.T, 1), F.log_softmax(targets / self.T, 1),
                                   reduction="batchmean", log_target=True) * self.T * self.T
        return sum(parts.values()), parts, logits


def train(args):
    torch.manual_seed(7)
    student = zoo.build(args.student)
    teacher = zoo.build(args.teacher).eval() if args.method != "student" else None
    for p in teacher.parameters() if teacher is not None else []:
        p.requires_grad_(False)
    step = Step(args.method, student, teacher, ints(args.student_layers), ints(args.teacher_layers))
    dev = torch.device(args.device)
    student.to(dev)
    step.projectors.to(dev)
    if teacher is not None:
        teacher.to(dev)
    c, s = student.spec.channels, student.spec.size
    n = args.images or (args.warmup + args.steps) * args.batch
    g = torch.Generator().manual_seed(12345)
    raw = torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, student.spec.classes, (n,), generator=g)
    x_all = raw.float().div_(255)
    mean = x_all.mean(dim=(0, 2, 3), keepdim=True)
    std = x_all.std(dim=(0, 2, 3), keepdim=True)
    x_all = (x_all - mean) / std
    if dev.type == "cuda":  # page-locked, so that batches copy asynchronously
        x_all, labels = x_all.pin_memory(), labels.pin_memory()
    params = list(student.parameters()) + list(step.projectors.parameters())
    # A tensor learning rate under torch.compile: the scheduler changes it without recompiling.
    lr = torch.tensor(args.lr, device=dev) if args.compile else args.lr
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=args.weight_decay)
    batches = n // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(batches, 2),
                                                pct_start=0.3)
    student.train()
    step.projectors.train()

    def forward(x, y):
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.bf16):
            targets = step.teacher_outputs(x)
            loss, parts, _ = step.losses(x, y, targets)
        return loss, parts

    opt_step = opt.step
    if args.compile:
        if not hasattr(torch, "compile"):
            sys.exit(f"reference_train.py: --compile needs PyTorch 2.x (this is {torch.__version__})")
        forward = torch.compile(forward, mode=args.compile)
        opt_step = torch.compile(opt.step, mode=args.compile)
    perm = torch.randperm(n)
    t_start = time.perf_counter()
    t0, c0 = t_start, time.process_time()
    running = 0.0
    # The legacy profiler: the same per-operator events as kdstudio-bench-train --profile.
    prof = torch.autograd.profiler.profile(use_kineto=False) if args.profile else None
    if prof is not None:
        prof.__enter__()
    compile_seconds = 0.0
    for b in range(batches):
        if b == args.warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0, c0 = time.perf_counter(), time.process_time()
            compile_seconds = t0 - t_start
        idx = perm[b * args.batch:(b + 1) * args.batch]
        x, y = x_all[idx], labels[idx]
        if dev.type == "cuda":
            x, y = x.pin_memory().to(dev, non_blocking=True), y.pin_memory().to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss, parts = forward(x, y)
        loss.backward()
        opt_step()
        sched.step()
        running += loss.item()
    t_end, c_end = time.perf_counter(), time.process_time()
    if prof is not None:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(args.profile)
    measured = batches - min(args.warmup, batches)
    secs = t_end - t0
    return {"side": "reference", "mode": "train", "method": args.method,
            "teacher": args.teacher if teacher is not None else "", "student": args.student,
            "batch": args.batch, "cache": "off", "threads": torch.get_num_threads(), "images": n,
            "warmup_steps": min(args.warmup, batches), "measured_steps": measured,
            "images_per_second": measured * args.batch / secs if secs > 0 else 0,
            "cpu_seconds_per_image": (c_end - c0) / (measured * args.batch) if measured else 0,
            "epoch_seconds": t_end - t_start, "torch": torch.__version__,
            "device": str(dev), "bf16": args.bf16, "compile": args.compile or "off",
            "compile_seconds": compile_seconds if args.compile else 0,
            "peak_gpu_mib": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0,
            "last_losses": {k: float(v) for k, v in parts.items()}}


def check(args):
    tensors, meta = zoo.load_safetensors(args.check)
    info = json.loads(meta["check"])
    student, teacher = zoo.build(info["student"]), zoo.build(info["teacher"])

    def sub(prefix):
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    student.load_state_dict(sub("student."), strict=True)
    teacher.load_state_dict(sub("teacher."), strict=True)
    step = Step(info["method"], student, teacher, info["student_layers"], info["teacher_layers"])
    proj = sub("objective.")
    for i, p in enumerate(step.projectors):
        p.weight.data.copy_(proj[f"proj_{i}.conv.weight"])
    teacher.eval()
    student.train()
    x, y = tensors["images"], tensors["labels"]
    total, parts, _ = step.losses(x, y, step.teacher_outputs(x))
    ref = {k: float(v) for k, v in parts.items()}
    worst = max(abs(ref[k] - info["parts"][k]) / max(abs(info["parts"][k]), 1e-12) for k in ref)
    return {"mode": "check", "method": info["method"], "ours": info["parts"], "reference": ref,
            "ours_total": info["total"], "reference_total": float(total),
            "max_relative_difference": worst, "agree": worst < 1e-4}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="ours", choices=["ours", "kd", "student"])
    ap.add_argument("--teacher", default="resnet34")
    ap.add_argument("--student", default="resnet9")
    ap.add_argument("--teacher-layers", default="3,7,13,16")
    ap.add_argument("--student-layers", default="1,2,3,4")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="measured steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--images", type=int, default=0, help="dataset size (default (warmup+steps) x batch)")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--compile", choices=["default", "reduce-overhead", "max-autotune"],
                    help="torch.compile the step in this mode (PyTorch 2.x; warm-up includes compilation)")
    ap.add_argument("--lr", type=float, default=0.0075)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--profile", help="write every operator's timing (Chrome trace) to this file "
                    "for bench/profile_ops.py; slows the run")
    ap.add_argument("--check", help="recompute the losses saved by kdstudio-bench-train --mode check")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = check(args) if args.check else train(args)
    print(json.dumps(out), flush=True)
    return 0 if out.get("agree", True) else 1


if __name__ == "__main__":
    sys.exit(main())
