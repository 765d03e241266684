#!/usr/bin/python3
"""Writes tests/fixtures/losses_reference.safetensors, the PyTorch reference values of
tests/core/test_losses.cpp (core/distill/losses.cpp).

Run with Debian's Python, which has torch:  /usr/bin/python3 scripts/reference_losses.py

Inputs are drawn in float32 with a fixed seed and stored as they are; every value and gradient
is then computed here in float64 from exactly those inputs, with the textbook PyTorch calls:
  kd        F.kl_div(F.log_softmax(zs/T), F.softmax(zt/T), reduction='batchmean') * T*T, T = 4
  kd_std    the same after z -> (z - mean) / (std + 1e-6) per sample, std = torch's default
            (unbiased, as z.std(dim=-1, keepdim=True) in Sun et al. 2024's code)
  feat/*    align (transpose ViT tokens, adaptive-average-pool the larger map to the smaller's
            size), project the student with a bias-free 1x1 convolution of stored weights, then
            the mean of squared differences
  sp/*      Tung & Mori: G = f f^T on (B, -1) features, F.normalize(G, p=2, dim=1), loss =
            sum((G_s - G_t)^2) / B^2 over all rows
Gradients are taken w.r.t. the student input (and the projector weight). The file format is
safetensors, written by the small writer below (only F32 is needed).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdstudio_zoo import save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "losses_reference.safetensors")
T = 4.0
EPS = 1e-6


def write_safetensors(path, tensors):
    """All reference tensors as float32 in one safetensors file (kdstudio_zoo's writer)."""
    save_safetensors(path, {k: v.detach().to(torch.float32) for k, v in tensors.items()})


def standardize(z):
    return (z - z.mean(dim=-1, keepdim=True)) / (z.std(dim=-1, keepdim=True) + EPS)


def kd(zs, zt, standardized):
    if standardized:
        zs, zt = standardize(zs), standardize(zt)
    return F.kl_div(F.log_softmax(zs / T, dim=1), F.softmax(zt / T, dim=1),
                    reduction="batchmean") * T * T


def align(s, t):
    if s.dim() == 2:
        s = s.view(*s.shape, *([1] * (t.dim() - 1 if t.dim() == 3 else 2)))
    if t.dim() == 2:
        t = t.view(*t.shape, *([1] * (s.dim() - 2)))
    if s.dim() == 3:  # ViT tokens (B, T, D) -> (B, D, T)
        s, t = s.transpose(1, 2), t.transpose(1, 2)
        size = min(s.shape[2], t.shape[2])
        pool = lambda x: x if x.shape[2] == size else F.adaptive_avg_pool1d(x, size)
    else:
        size = (min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3]))
        pool = lambda x: x if tuple(x.shape[2:]) == size else F.adaptive_avg_pool2d(x, size)
    return pool(s), pool(t)


def sp(fs, ft):
    b = fs.shape[0]
    fs, ft = fs.reshape(b, -1), ft.reshape(b, -1)
    gs = F.normalize(fs @ fs.t(), p=2, dim=1)
    gt = F.normalize(ft @ ft.t(), p=2, dim=1)
    return ((gs - gt) ** 2).sum() / (b * b)


def main():
    torch.manual_seed(20240611)
    out = {}

    zs = torch.randn(4, 10) * 3
    zt = torch.randn(4, 10) * 5 + 1
    out["logits/student"], out["logits/teacher"] = zs, zt
    out["logits/standardized_student"] = standardize(zs.double())
    for name, std in (("kd", False), ("kd_std", True)):
        x = zs.double().requires_grad_()
        loss = kd(x, zt.double(), std)
        loss.backward()
        out[name + "/loss"] = loss.detach().reshape(1)
        out[name + "/grad_student"] = x.grad

    # (student shape, teacher shape) per alignment case
    feature_cases = {
        "student_larger": ((4, 8, 6, 6), (4, 16, 3, 3)),
        "teacher_larger": ((4, 8, 3, 3), (4, 16, 6, 6)),
        "equal": ((4, 8, 4, 4), (4, 16, 4, 4)),
        "uneven": ((4, 8, 7, 7), (4, 16, 5, 5)),
        "flat": ((4, 8), (4, 16)),
        "flat_vs_map": ((4, 8), (4, 16, 3, 3)),
        "vit": ((4, 17, 12), (4, 33, 20)),
    }
    for name, (s_shape, t_shape) in feature_cases.items():
        s, t = torch.randn(*s_shape), torch.randn(*t_shape)
        vit = len(s_shape) == 3
        c_s, c_t = s_shape[-1] if vit else s_shape[1], t_shape[-1] if vit else t_shape[1]
        w = torch.randn(c_t, c_s, *((1,) if vit else (1, 1))) / c_s ** 0.5
        out[f"feat/{name}/student"], out[f"feat/{name}/teacher"] = s, t
        out[f"feat/{name}/weight"] = w
        x, wd = s.double().requires_grad_(), w.double().requires_grad_()
        sa, ta = align(x, t.double())
        proj = F.conv1d(sa, wd) if vit else F.conv2d(sa, wd)
        loss = ((proj - ta) ** 2).mean()
        loss.backward()
        out[f"feat/{name}/loss"] = loss.detach().reshape(1)
        out[f"feat/{name}/grad_student"] = x.grad
        out[f"feat/{name}/grad_weight"] = wd.grad

    sp_cases = {"maps": ((4, 8, 6, 6), (4, 16, 3, 3)), "vit": ((4, 17, 12), (4, 33, 20))}
    for name, (s_shape, t_shape) in sp_cases.items():
        s, t = torch.randn(*s_shape), torch.randn(*t_shape)
        out[f"sp/{name}/student"], out[f"sp/{name}/teacher"] = s, t
        x = s.double().requires_grad_()
        loss = sp(x, t.double())
        loss.backward()
        out[f"sp/{name}/loss"] = loss.detach().reshape(1)
        out[f"sp/{name}/grad_student"] = x.grad

    write_safetensors(OUT, out)
    print(f"wrote {len(out)} tensors to {os.path.normpath(OUT)}")
    for k in sorted(out):
        if k.endswith("/loss"):
            print(f"  {k} = {out[k].item():.8g}")


if __name__ == "__main__":
    main()
