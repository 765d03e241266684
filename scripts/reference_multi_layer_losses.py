#!/usr/bin/python3
"""Writes tests/fixtures/multi_layer_losses_reference.safetensors, the PyTorch reference values of
tests/core/test_multi_layer_losses.cpp (core/distill/multi_layer_losses.cpp).

Run with Debian's Python, which has torch:  /usr/bin/python3 scripts/reference_multi_layer_losses.py

Inputs and module weights are drawn in float32 with a fixed seed and stored as they are; every
value and gradient is then computed here in float64 from exactly those tensors, with plain
PyTorch calls and no code shared with the C++ side:
  align     (B, C) -> (B, C, 1, 1), or (B, C, 1) when either side is ViT tokens; tokens
            (B, T, D) -> (B, D, T); the larger map adaptive-average-pooled (F.adaptive_avg_pool2d
            or 1d) to the smaller size, per spatial dimension
  P_ij      a bias-free 1x1 convolution (F.conv2d / F.conv1d) of the stored weight
  allpairs  sum_i sum_j mean((P_ij(s_i) - t_j)^2) / n_teacher
  semckd    GAP (adaptive average pooling to size 1 in the aligned layout), q_i = Linear(GAP(s_i)),
            k_j = Linear(GAP(t_j)); alpha_b,i,: = softmax_j(q_i . k_j / sqrt(embed_dim));
            l_b,ij = per-sample mean of (P_ij(s_i) - t_j)^2;
            loss = (1 / n_student) * sum_i mean_b sum_j alpha_b,ij * l_b,ij
Stored per case, under "<loss>/<case>/":
  student/<i>, teacher/<j>       inputs (batch first)
  param/<name>                   module weights, <name> exactly as the C++ module's
                                 named_parameters() ("proj_0_1.conv.weight", "query_0.bias", ...)
  loss                           shape (1,)
  grad_student/<i>               d loss / d student input i
  grad_param/<name>              d loss / d parameter
  attention                      (B, n_student, n_teacher), semckd only
The file format is safetensors, written by kdstudio_zoo's writer (stored as float32).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdstudio_zoo import save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "multi_layer_losses_reference.safetensors")
BATCH = 5
EMBED_DIM = 8  # SemCKD's embed_dim in these cases (the C++ test builds the module with it)

# (student shapes, teacher shapes) without the batch dimension: (C, H, W), (C) or tokens (T, D)
CASES = {
    "cnn": ([(4, 8, 8), (8, 4, 4)], [(6, 8, 8), (10, 4, 4), (12, 2, 2)]),
    "flat_tokens": ([(16,), (5, 12)], [(9, 20), (24,)]),
}


def is_tokens(shape):
    return len(shape) == 2


def channels(shape):
    return shape[1] if is_tokens(shape) else shape[0]


def align(s, t):
    """As method.md section 4; s and t are batched."""
    tokens = s.dim() == 3 or t.dim() == 3

    def layout(x):
        if x.dim() == 2:
            return x.reshape(*x.shape, *([1] if tokens else [1, 1]))
        if x.dim() == 3:
            return x.transpose(1, 2)
        return x

    s, t = layout(s), layout(t)
    size = tuple(min(a, b) for a, b in zip(s.shape[2:], t.shape[2:]))
    pool = F.adaptive_avg_pool1d if tokens else F.adaptive_avg_pool2d

    def fit(x):
        return x if tuple(x.shape[2:]) == size else pool(x, size)

    return fit(s), fit(t), tokens


def gap(x):
    """Global average over the non-channel positions in the aligned layout -> (B, C)."""
    if x.dim() == 2:
        return x
    if x.dim() == 3:  # tokens (B, T, D)
        return F.adaptive_avg_pool1d(x.transpose(1, 2), 1).flatten(1)
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


def projected_pairs(students, teachers, params):
    """[i][j] -> (P_ij(aligned s_i), aligned t_j)."""
    out = []
    for i, s in enumerate(students):
        row = []
        for j, t in enumerate(teachers):
            sa, ta, tokens = align(s, t)
            w = params[f"proj_{i}_{j}.conv.weight"]
            row.append(((F.conv1d if tokens else F.conv2d)(sa, w), ta))
        out.append(row)
    return out


def all_pairs_loss(students, teachers, params):
    pairs = projected_pairs(students, teachers, params)
    total = sum(((p - t) ** 2).mean() for row in pairs for p, t in row)
    return total / len(teachers), None


def semckd_loss(students, teachers, params):
    pairs = projected_pairs(students, teachers, params)
    keys = torch.stack([F.linear(gap(t), params[f"key_{j}.weight"], params[f"key_{j}.bias"])
                        for j, t in enumerate(teachers)], dim=1)  # (B, n_t, E)
    total, attention = 0, []
    for i, s in enumerate(students):
        q = F.linear(gap(s), params[f"query_{i}.weight"], params[f"query_{i}.bias"])  # (B, E)
        scores = torch.einsum("be,bje->bj", q, keys) / math.sqrt(EMBED_DIM)
        alpha = F.softmax(scores, dim=1)
        per_sample = torch.stack([((p - t) ** 2).flatten(1).mean(1) for p, t in pairs[i]], 1)
        total = total + (alpha * per_sample).sum(1).mean()
        attention.append(alpha)
    return total / len(students), torch.stack(attention, 1)


def make_params(student_shapes, teacher_shapes, semckd):
    """float32 weights, scaled like PyTorch's default initialization."""
    params = {}
    for i, s in enumerate(student_shapes):
        for j, t in enumerate(teacher_shapes):
            c_s, c_t = channels(s), channels(t)
            one_d = is_tokens(s) or is_tokens(t)
            params[f"proj_{i}_{j}.conv.weight"] = (
                torch.randn(c_t, c_s, *((1,) if one_d else (1, 1))) / math.sqrt(c_s))
    if semckd:
        for prefix, shapes in (("query", student_shapes), ("key", teacher_shapes)):
            for k, shape in enumerate(shapes):
                c = channels(shape)
                params[f"{prefix}_{k}.weight"] = torch.randn(EMBED_DIM, c) / math.sqrt(c)
                params[f"{prefix}_{k}.bias"] = torch.randn(EMBED_DIM) * 0.1
    return params


def main():
    torch.manual_seed(20240612)
    out = {}
    for case, (student_shapes, teacher_shapes) in CASES.items():
        students = [torch.randn(BATCH, *s) for s in student_shapes]
        teachers = [torch.randn(BATCH, *t) * 1.5 + 0.2 for t in teacher_shapes]
        for loss_name, fn in (("allpairs", all_pairs_loss), ("semckd", semckd_loss)):
            base = f"{loss_name}/{case}/"
            params = make_params(student_shapes, teacher_shapes, loss_name == "semckd")
            for i, s in enumerate(students):
                out[f"{base}student/{i}"] = s
            for j, t in enumerate(teachers):
                out[f"{base}teacher/{j}"] = t
            for name, p in params.items():
                out[f"{base}param/{name}"] = p
            xs = [s.double().requires_grad_() for s in students]
            ps = {k: v.double().requires_grad_() for k, v in params.items()}
            loss, attention = fn(xs, [t.double() for t in teachers], ps)
            loss.backward()
            out[base + "loss"] = loss.detach().reshape(1)
            for i, x in enumerate(xs):
                out[f"{base}grad_student/{i}"] = x.grad
            for name, p in ps.items():
                out[f"{base}grad_param/{name}"] = p.grad
            if attention is not None:
                out[base + "attention"] = attention.detach()

    save_safetensors(OUT, {k: v.detach().to(torch.float32) for k, v in out.items()})
    print(f"wrote {len(out)} tensors to {os.path.normpath(OUT)}")
    for k in sorted(out):
        if k.endswith("/loss"):
            print(f"  {k} = {out[k].item():.8g}")


if __name__ == "__main__":
    main()
