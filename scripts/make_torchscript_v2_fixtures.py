#!/usr/bin/python3
"""Writes the PyTorch 2.x TorchScript fixtures of tests/core/test_torchscript_v2.cpp.

Run with Debian 13's PyTorch 2.6, in the chroot of scripts/debian13.sh:

    scripts/debian13.sh python scripts/make_torchscript_v2_fixtures.py

Into tests/fixtures/torchscript_v2/ it writes, for every model NAME:
  NAME.pt        the model as a PyTorch 2.6 user saves it (see MODELS below)
  NAME_ref.pt    a scripted holder whose buffers are PyTorch 2.6's values: "input" (a fixed
                 batch of 2) and "output" (the model's logits on it, eval mode, no grad)
and sdpa_ref.pt: aten::scaled_dot_product_attention's inputs, options and outputs for a set of
cases (masks, causal, scale, grouped heads), with the gradients of sum(output * upstream) with
respect to query, key and value, computed by PyTorch 2.6's own operator.

A C++ build on LibTorch 1.13 lacks that operator and registers its own
(core/models/sdpa_operator.cpp); the test checks both builds against these values.
Everything is seeded. Sizes are small except resnet18 (torchvision's, 45 MB as users export it):
its weights are snapped to multiples of 1/32 and the file is stored gzipped (resnet18_script.pt.gz,
a few MB); the test unpacks it. `--only resnet18_script` rewrites just that one.
"""
import gzip
import shutil
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torchscript_v2")


class SmallCnn(nn.Module):
    """A plain CNN for 1x28x28 (Fashion-MNIST), as a user would write it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class StridedCnn(nn.Module):
    """SmallCnn with stride-2 convolutions instead of max pooling: Debian 13's PyTorch 2.6 cannot
    run torch.jit.optimize_for_inference over aten::max_pool2d (its Vulkan kernel collides with
    the composite one: "INTERNAL ASSERT FAILED ... KernelFunction.cpp")."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class SelfAttention(nn.Module):
    """Two-head self-attention through F.scaled_dot_product_attention, with a residual."""

    def __init__(self, dim: int, causal: bool):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.causal = causal

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return x + y.transpose(1, 2).reshape(b, n, c)


class SdpaNet(nn.Module):
    """Patches of 1x28x28 images attended with F.scaled_dot_product_attention directly
    (timm's and many user models' way), causal in the second block."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(1, 16, 7, stride=7)  # 16 patches of 16 channels
        self.block1 = SelfAttention(16, False)
        self.block2 = SelfAttention(16, True)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = self.embed(x).flatten(2).transpose(1, 2)
        h = self.block2(self.block1(h))
        return self.head(h.mean(1))


def small_vit():
    """torchvision's VisionTransformer (nn.MultiheadAttention inside), small, 3x32x32."""
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, num_classes=10)
    # torchvision starts the head at zero: the logits would be 0 and no gradient would pass it.
    nn.init.normal_(vit.heads.head.weight, std=0.2)
    nn.init.uniform_(vit.heads.head.bias, -0.1, 0.1)
    return vit


def holder(tensors):
    """A scripted module whose buffers are the given tensors (loads in any LibTorch)."""
    m = nn.Module()
    for k, v in tensors.items():
        m.register_buffer(k, v.detach().clone().contiguous())
    return torch.jit.script(m)


def seeded(make, seed):
    torch.manual_seed(seed)
    m = make()
    # BatchNorm statistics that are not the defaults, so folding and eval mode matter.
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def snapped(m):
    """Every parameter and buffer of floating type rounded to a multiple of 1/32: the same
    architecture and code paths, a file that compresses well."""
    with torch.no_grad():
        for t in list(m.parameters()) + [b for b in m.buffers() if b.is_floating_point()]:
            t.copy_(torch.round(t * 32) / 32)
    return m


def gzipped(name):
    """Replaces NAME.pt by NAME.pt.gz."""
    path = os.path.join(OUT, name + ".pt")
    with open(path, "rb") as src, gzip.GzipFile(path + ".gz", "wb", compresslevel=9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    os.remove(path)
    print(f"{name}: gzipped to {os.path.getsize(path + '.gz')} bytes")


def save(name, module, shape, seed):
    torch.manual_seed(1000 + seed)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        y = module(x)
    module.save(os.path.join(OUT, name + ".pt"))
    holder({"input": x, "output": y}).save(os.path.join(OUT, name + "_ref.pt"))
    print(f"{name}: {os.path.getsize(os.path.join(OUT, name + '.pt'))} bytes, logits {tuple(y.shape)}")


def sdpa_cases():
    """Inputs and options of the operator test, PyTorch 2.6's outputs and gradients."""
    g = torch.Generator().manual_seed(7)
    r = lambda *s: torch.randn(*s, generator=g)
    cases = [
        # name, q, k, v, mask, is_causal, scale, enable_gqa
        ("plain", r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 4), None, False, None, False),
        ("bool_mask", r(2, 3, 5, 8), r(2, 3, 6, 8), r(2, 3, 6, 8), torch.rand(5, 6, generator=g) > 0.3, False, None, False),
        ("float_mask", r(1, 2, 4, 8), r(1, 2, 4, 8), r(1, 2, 4, 8), r(1, 2, 4, 4), False, None, False),
        ("causal", r(2, 2, 6, 4), r(2, 2, 6, 4), r(2, 2, 6, 4), None, True, None, False),
        ("causal_rect", r(1, 2, 3, 4), r(1, 2, 5, 4), r(1, 2, 5, 4), None, True, None, False),
        ("scale", r(2, 4, 4), r(2, 7, 4), r(2, 7, 3), None, False, 0.3, False),
        ("fully_masked_row", r(1, 1, 3, 4), r(1, 1, 3, 4), r(1, 1, 3, 4),
         torch.tensor([[True, True, False], [False, False, False], [True, False, True]]), False, None, False),
        ("gqa", r(1, 4, 3, 8), r(1, 2, 5, 8), r(1, 2, 5, 8), None, False, None, True),
    ]
    out = {}
    for i, (name, q, k, v, mask, causal, scale, gqa) in enumerate(cases):
        q, k, v = (t.clone().requires_grad_(True) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=gqa)
        w = torch.randn(y.shape, generator=g)
        (y * w).sum().backward()
        p = f"c{i}_"
        out.update({p + "q": q, p + "k": k, p + "v": v, p + "out": y, p + "upstream": w,
                    p + "grad_q": q.grad, p + "grad_k": k.grad, p + "grad_v": v.grad,
                    p + "options": torch.tensor([float(mask is not None), float(causal),
                                                 float("nan") if scale is None else scale, float(gqa)],
                                                dtype=torch.float64)})
        if mask is not None:
            out[p + "mask"] = mask
        print(f"sdpa case {i} ({name}): out {tuple(y.shape)}")
    out["count"] = torch.tensor(len(cases))
    holder(out).save(os.path.join(OUT, "sdpa_ref.pt"))


def unknown_op(src, dst):
    """A copy of src whose code calls aten::kdop, an operator no LibTorch has (torch.relu renamed
    to a name of the same length in the archive's code): a valid archive that cannot load."""
    import zipfile
    renamed = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if "/code/" in item.filename and item.filename.endswith(".py") and b"torch.relu(" in data:
                data = data.replace(b"torch.relu(", b"torch.kdop(")
                renamed += 1
            zout.writestr(item, data)
    assert renamed > 0, "no torch.relu( in the code of " + src
    print(f"unknown_op: {renamed} code file(s) renamed")


def main():
    only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--only" else None
    if only not in (None, "resnet18_script"):
        sys.exit("--only takes resnet18_script")
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    print("PyTorch", torch.__version__, "torchvision", torchvision.__version__)
    cnn = seeded(SmallCnn, 1)
    save("cnn_script", torch.jit.script(cnn), (1, 28, 28), 1)
    save("cnn_trace", torch.jit.trace(cnn, torch.randn(2, 1, 28, 28)), (1, 28, 28), 1)
    save("resnet18_script",
         torch.jit.script(snapped(seeded(lambda: torchvision.models.resnet18(num_classes=10), 2))), (3, 32, 32), 2)
    gzipped("resnet18_script")
    if only == "resnet18_script":
        return 0
    vit = seeded(small_vit, 3)
    save("vit_script", torch.jit.script(vit), (3, 32, 32), 3)
    save("vit_trace_grad", torch.jit.trace(vit, torch.randn(2, 3, 32, 32), check_trace=False), (3, 32, 32), 3)
    with torch.no_grad():
        save("vit_trace_nograd", torch.jit.trace(vit, torch.randn(2, 3, 32, 32), check_trace=False), (3, 32, 32), 3)
    save("sdpa_script", torch.jit.script(seeded(SdpaNet, 4)), (1, 28, 28), 4)
    save("cnn_frozen", torch.jit.freeze(torch.jit.script(cnn)), (1, 28, 28), 1)
    save("cnn_optimized", torch.jit.optimize_for_inference(torch.jit.script(seeded(StridedCnn, 5))), (1, 28, 28), 5)
    unknown_op(os.path.join(OUT, "cnn_script.pt"), os.path.join(OUT, "unknown_op.pt"))
    sdpa_cases()
    return 0


if __name__ == "__main__":
    sys.exit(main())
