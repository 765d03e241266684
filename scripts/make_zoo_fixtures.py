#!/usr/bin/python3
"""Writes the PyTorch reference fixtures of tests/core/test_zoo_pytorch_parity.cpp.

Run with Debian's Python, which has torch (1.13):  /usr/bin/python3 scripts/make_zoo_fixtures.py

The models come from scripts/kdstudio_zoo.py (the PyTorch twin of the C++ zoo). For every entry
of FIXTURES it writes to tests/fixtures/:
  zoo_NAME.kdmodel            the model's state dict as a KD Studio model file (safetensors,
                              metadata format=kdstudio-model, format_version=1, architecture)
  zoo_NAME_ref.safetensors    reference values computed by PyTorch in eval mode:
                                input        a fixed batch of 3 random inputs
                                logits       model(input)
                                feature_L    output of generalized layer L (two to four layers)
and zoo_state_shapes.json: for every architecture (and a few option variants) the state-dict
names of kdstudio_zoo.build(spec) with [dtype, shape], which the C++ zoo must reproduce:
{"spec": {"name": ["F32", [dims...]], ...}, ...}.

BatchNorm running statistics are not left at their defaults (0 and 1, which would make eval-mode
BN nearly the identity): they are accumulated over random batches in training mode and then
perturbed, and the BN affine parameters, ViT class token and num_batches_tracked are randomised
too, so that every stored tensor influences the logits. Seeds are fixed; the output is
deterministic for a given PyTorch build.
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdstudio_zoo as zoo  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# name -> (spec, generalized layers whose outputs are stored). Small widths keep all files
# together well under 1.5 MB; the "_tiny" entries are the Tiny-ImageNet variants (stride-2 stem,
# ViT patch 8), and the VGG one has a 2x2 map before the flatten so the flatten order is tested.
FIXTURES = {
    "resnet9": ("resnet9:channels=1,size=28,width=0.125", [2, 4, 5]),
    "mobilenetv2": ("mobilenetv2:width=0.125", [3, 13, 18]),
    "vgg11_bn": ("vgg11_bn:channels=1,size=28,width=0.0625", [1, 8, 10]),
    "vit_ett": ("vit_ett:width=0.125", [0, 4, 8]),
    "vgg11_bn_tiny": ("vgg11_bn:channels=1,size=72,classes=20,width=0.03125", [3, 8, 9]),
    "vit_ett_tiny": ("vit_ett:channels=1,classes=20,width=0.0625,downsample=on", [0, 8]),
}

# Specs whose state-dict layout (names, shapes, dtypes) the C++ test compares with PyTorch's.
SHAPE_SPECS = [
    "resnet9:width=0.125",
    "resnet18:channels=1,size=28,width=0.125",
    "resnet34:width=0.125",
    "mobilenetv2:width=0.125",
    "mobilenetv2:width=0.1875",  # 24 * 0.1875 = 4.5 rounds half away from zero to 5
    "vgg11_bn:width=0.125",
    "vgg19_bn:width=0.125",
    "vgg19_bn:size=72,classes=200,width=0.125",  # stride-2 stem, 2x2 map before the flatten
    "vit_b:width=0.0625",
    "vit_b:size=64,classes=200,width=0.0625",  # patch 8
    "vit_ett:width=0.125",
    "vit_ett:channels=1,size=28,width=0.25",
]

BATCH = 3


def randomise_batchnorm(model, spec, generator):
    """Gives every BatchNorm realistic but non-trivial statistics and affine parameters."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None  # cumulative average over the batches below
        bn.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, spec.channels, spec.size, spec.size, generator=generator))
        for bn in bns:
            c = bn.num_features
            std = bn.running_var.sqrt()
            bn.running_mean += 0.2 * std * torch.randn(c, generator=generator)
            bn.running_var *= 0.5 + torch.rand(c, generator=generator)
            bn.weight.copy_(0.5 + torch.rand(c, generator=generator))
            bn.bias.copy_(0.2 * torch.randn(c, generator=generator))
            bn.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
            bn.momentum = 0.1
    model.eval()


def shrink_vit_input(embed, spec, generator):
    """Randomises the class token and scales the input layer so its outputs have a variance of
    about 1e-5. The first LayerNorm then depends visibly on its eps, so a mismatch (PyTorch's
    default 1e-5 vs the 1e-6 of torchvision's ViT) changes the logits beyond the tolerances."""
    with torch.no_grad():
        embed.cls_token.normal_(0.0, 0.5, generator=generator)
        probe = torch.randn(8, spec.channels, spec.size, spec.size, generator=generator)
        scale = 3e-3 / embed(probe).std().item()
        for p in (embed.proj.weight, embed.proj.bias, embed.cls_token, embed.pos_embed):
            p.mul_(scale)


def make_fixture(name, spec_text, feature_layers):
    torch.manual_seed(1234)
    generator = torch.Generator().manual_seed(5678)
    spec = zoo.parse_spec(spec_text)
    assert str(spec) == spec_text, f"{spec_text} is not canonical (KD Studio writes {spec})"
    model = zoo.build(spec)
    randomise_batchnorm(model, spec, generator)
    for module in model.modules():
        if isinstance(module, zoo.PatchEmbed):
            shrink_vit_input(module, spec, generator)
    model_path = os.path.join(OUT, f"zoo_{name}.kdmodel")
    zoo.save_model(model, model_path, {"producer": "scripts/make_zoo_fixtures.py"})

    # The reference values come from the model as loaded back from the file, so the file
    # (not only the in-memory model) is what they describe.
    loaded, _ = zoo.load_model(model_path)
    x = torch.randn(BATCH, spec.channels, spec.size, spec.size, generator=generator)
    ref = {"input": x}
    with torch.no_grad():
        ref["logits"] = loaded(x)
        assert torch.equal(ref["logits"], model(x))
        for layer in feature_layers:
            ref[f"feature_{layer}"] = loaded.forward_to(x, layer)
    ref_path = os.path.join(OUT, f"zoo_{name}_ref.safetensors")
    zoo.save_safetensors(ref_path, ref, {"architecture": spec_text,
                                         "torch_version": torch.__version__})
    check_roundtrip(ref_path, ref)
    logits = ref["logits"]
    print(f"{name:16s} {spec_text:52s} {os.path.getsize(model_path):8d} B model, "
          f"{os.path.getsize(ref_path):7d} B ref, |logits| mean {logits.abs().mean():.3f}, "
          f"logit std across the batch {logits.std(0).mean():.3f}")


def check_roundtrip(path, tensors):
    loaded, _ = zoo.load_safetensors(path)
    assert loaded.keys() == tensors.keys()
    for key, t in tensors.items():
        assert torch.equal(loaded[key], t), key


def write_state_shapes():
    table = {}
    for spec_text in SHAPE_SPECS:
        assert str(zoo.parse_spec(spec_text)) == spec_text, spec_text
        state = zoo.build(spec_text).state_dict()
        table[spec_text] = {
            key: [zoo.DTYPE_NAMES[t.dtype], list(t.shape)] for key, t in state.items()
        }
    path = os.path.join(OUT, "zoo_state_shapes.json")
    with open(path, "w") as f:  # one line per spec: small, and diffs stay readable
        f.write("{\n")
        lines = [f"{json.dumps(spec)}: {json.dumps(entries, separators=(',', ':'))}"
                 for spec, entries in table.items()]
        f.write(",\n".join(lines) + "\n}\n")
    print(f"zoo_state_shapes.json: {len(table)} specs, {os.path.getsize(path)} B")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (spec_text, layers) in FIXTURES.items():
        make_fixture(name, spec_text, layers)
    write_state_shapes()


if __name__ == "__main__":
    main()
