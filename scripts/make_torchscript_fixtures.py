#!/usr/bin/python3
"""Writes the TorchScript fixtures of tests/core/test_torchscript_import.cpp.

Run with Debian's Python, which has torch (1.13):  /usr/bin/python3 scripts/make_torchscript_fixtures.py

For every model NAME it writes to tests/fixtures/:
  ts_NAME.pt      the model (torch.jit.script or torch.jit.trace), some with an extra file
                  "kdstudio.json" ({"input_shape": [C, H, W], "num_classes": K})
  ts_NAME_ref.pt  a scripted holder whose buffers are the reference values computed by PyTorch:
                    input            a fixed probe batch (2 samples)
                    output           model(input), the logits
                    layer_abs_sums   sum of |output| of each expected layer's last module
                                     (float64, one per layer; empty when there are no layers)
plus ts_state_dict.pt, a torch.save()d state dict that is NOT a TorchScript archive.

The expected partitions (EXPECTED below) are derived by hand from docs/method.md section 1:
a generalized layer ends after a nonlinearity (ReLU, LeakyReLU, ReLU6, GELU, SiLU), a whole block
(BasicBlock, Bottleneck, InvertedResidual, transformer blocks) or a Flatten; when forward()
flattens implicitly a Flatten is inserted before the first Linear and ends a layer; the modules
after the last layer end are the classifier tail. The C++ test asserts the same numbers.
Everything is deterministic (fixed seeds) and small (each model well under 200 KB).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# name -> (partition mode, [(layer name, kind, shape), ...], head_start, num_classes)
# Layer name is the dotted path of the layer's last module; kind joins the modules' type names.
EXPECTED = {
    # (a) nn.Sequential CNN for 1x28x28, scripted, with kdstudio.json.
    "seq_cnn": ("generalized", [
        ("2", "Conv2d+BatchNorm2d+ReLU", [8, 28, 28]),
        ("5", "MaxPool2d+Conv2d+ReLU", [8, 7, 7]),
        ("6", "Flatten", [392]),
        ("8", "Linear+ReLU", [16]),
    ], 3, 10),
    # (b) ResNet-like custom module for 3x32x32 with BasicBlocks and torch.flatten in forward,
    # scripted, with kdstudio.json. The implicit flatten ends the avgpool layer.
    "resnet_script": ("generalized", [
        ("relu", "Conv2d+BatchNorm2d+ReLU", [8, 32, 32]),
        ("layer1.0", "BasicBlock", [8, 32, 32]),
        ("layer1.1", "BasicBlock", [8, 32, 32]),
        ("layer2.0", "BasicBlock", [16, 16, 16]),
        ("avgpool", "AdaptiveAvgPool2d+Flatten (inserted)", [16]),
    ], 5, 10),
    # (c) the same model and weights traced; no kdstudio.json, so the input shape is probed
    # (1x28x28 fails on the 3-channel conv, 3x32x32 runs).
    "resnet_trace": ("generalized", [
        ("relu", "Conv2d+BatchNorm2d+ReLU", [8, 32, 32]),
        ("layer1.0", "BasicBlock", [8, 32, 32]),
        ("layer1.1", "BasicBlock", [8, 32, 32]),
        ("layer2.0", "BasicBlock", [16, 16, 16]),
        ("avgpool", "AdaptiveAvgPool2d+Flatten (inserted)", [16]),
    ], 5, 10),
    # (d) MobileNetV2-like (torchvision layout: Conv-BN-ReLU6 Sequential subclasses,
    # InvertedResidual blocks, functional global average pool + flatten, classifier
    # Dropout + Linear), scripted, kdstudio.json says 3x40x40 (not a probed size).
    # The functional pooling is covered by the inserted "GlobalAvgPool+Flatten".
    "mobilenet": ("generalized", [
        ("features.0.2", "Conv2d+BatchNorm2d+ReLU6", [8, 20, 20]),
        ("features.1", "InvertedResidual", [8, 20, 20]),
        ("features.2", "InvertedResidual", [16, 10, 10]),
        ("features.3", "InvertedResidual", [16, 10, 10]),
        ("features.4.2", "Conv2d+BatchNorm2d+ReLU6", [32, 10, 10]),
        ("classifier.0", "Dropout+GlobalAvgPool+Flatten (inserted)", [32]),
    ], 6, 10),
    # (e1) a skip connection across top-level children: the chain runs but gives other
    # outputs, at both levels, so only the logits are usable.
    "skip": ("logits_only", [], 0, 10),
    # (e2) two branches concatenated inside a custom child: the generalized chain fails (the
    # second branch gets the first branch's output), the top-level children are a chain.
    "branches": ("top_level", [
        ("stem", "Sequential", [8, 16, 16]),
        ("mix", "TwoBranch", [8, 16, 16]),
        ("act", "ReLU", [8, 16, 16]),
        ("pool", "AdaptiveAvgPool2d", [8, 1, 1]),
        ("flatten", "Flatten", [8]),
    ], 5, 6),
    # (f) nested Sequentials inside custom modules, 1x28x28, scripted.
    "nested": ("generalized", [
        ("encoder.block1.1", "Conv2d+ReLU", [4, 28, 28]),
        ("encoder.block2.1", "Conv2d+BatchNorm2d+LeakyReLU", [8, 14, 14]),
        ("head.0", "MaxPool2d+Flatten", [392]),
        ("head.2", "Linear+GELU", [16]),
    ], 3, 10),
    # (g) takes 2x5x5, which is not among the probed shapes; no kdstudio.json.
    "odd_input": ("generalized", [
        ("0", "Flatten", [50]),
    ], 1, 3),
}

# Input shapes (C, H, W) and whether kdstudio.json is written.
INPUTS = {
    "seq_cnn": ((1, 28, 28), True),
    "resnet_script": ((3, 32, 32), True),
    "resnet_trace": ((3, 32, 32), False),
    "mobilenet": ((3, 40, 40), True),
    "skip": ((3, 16, 16), True),
    "branches": ((3, 16, 16), True),
    "nested": ((1, 28, 28), True),
    "odd_input": ((2, 5, 5), False),
}


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetMini(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers = [] if expand == 1 else [ConvBNReLU(cin, hidden, 1)]
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetMini(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(ConvBNReLU(3, 8, 3, 2), InvertedResidual(8, 8, 1, 1),
                                      InvertedResidual(8, 16, 2, 2), InvertedResidual(16, 16, 1, 2),
                                      ConvBNReLU(16, 32, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


class SkipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x):
        s = self.stem(x)
        return self.head(self.body(s) + s)


class TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(8, 4, 3, 1, 1)
        self.b = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


class BranchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.mix = TwoBranch()
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.act(self.mix(self.stem(x))))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Sequential(nn.Conv2d(4, 8, 3, 2, 1), nn.BatchNorm2d(8)),
                                    nn.LeakyReLU(0.1))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.block2(self.block1(x)))


class NestedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(392, 16), nn.GELU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.encoder(x))


def seq_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(392, 16),
                         nn.ReLU(), nn.Linear(16, 10))


def randomize_batchnorm(model):
    """Non-trivial running statistics, so that eval-mode BatchNorm is not the identity."""
    g = torch.Generator().manual_seed(7)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


class RefHolder(nn.Module):
    def __init__(self, x, y, sums):
        super().__init__()
        self.register_buffer("input", x)
        self.register_buffer("output", y)
        self.register_buffer("layer_abs_sums", sums)

    def forward(self):
        return self.output


def layer_abs_sums(model, x, layers):
    """Sum of |output| of each layer's last module, from forward hooks on the eager model."""
    modules = dict(model.named_modules())
    sums = {}
    hooks = []
    for name, _, _ in layers:
        def hook(_m, _i, out, name=name):
            sums[name] = out.detach().double().abs().sum().item()
        hooks.append(modules[name].register_forward_hook(hook))
    model(x)
    for h in hooks:
        h.remove()
    return torch.tensor([sums[name] for name, _, _ in layers], dtype=torch.float64)


def check_shapes(model, x, layers):
    """Asserts the hand-derived shapes against the eager model (flatten inserted where noted)."""
    modules = dict(model.named_modules())
    shapes = {}
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, list(out.shape[1:]))) for n, _, _ in layers]
    model(x)
    for h in hooks:
        h.remove()
    for name, kind, shape in layers:
        got = shapes[name]
        if "Flatten (inserted)" in kind:
            got = [int(torch.tensor(got).prod())] if "GlobalAvgPool" not in kind else got[:1]
        assert got == shape, (name, got, shape)


def write(name, model, how):
    (c, h, w), with_json = INPUTS[name]
    mode, layers, _, classes = EXPECTED[name]
    torch.manual_seed(1234)
    x = torch.randn(2, c, h, w)
    model.eval()
    with torch.no_grad():
        y = model(x)
        assert list(y.shape) == [2, classes]
        check_shapes(model, x, layers)
        sums = layer_abs_sums(model, x, layers)
        scripted = torch.jit.trace(model, x) if how == "trace" else torch.jit.script(model)
        assert torch.allclose(scripted(x), y, rtol=1e-5, atol=1e-6)
    extra = {}
    if with_json:
        extra["kdstudio.json"] = json.dumps({"input_shape": [c, h, w], "num_classes": classes})
    path = os.path.join(OUT, "ts_%s.pt" % name)
    scripted.save(path, _extra_files=extra)
    torch.jit.script(RefHolder(x, y, sums)).save(os.path.join(OUT, "ts_%s_ref.pt" % name))
    size = os.path.getsize(path)
    assert size < 200 * 1024, (name, size)
    print("%-14s %-11s %d layers, %6d bytes" % (name, mode, len(layers), size))


def main():
    # TorchScript writes some class constants in set order, which follows Python's string
    # hashing: fix the hash seed so that the archives are byte-identical from run to run.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    write("seq_cnn", randomize_batchnorm(seq_cnn()), "script")
    torch.manual_seed(0)
    resnet = randomize_batchnorm(ResNetMini())
    write("resnet_script", resnet, "script")
    write("resnet_trace", resnet, "trace")
    torch.manual_seed(0)
    write("mobilenet", randomize_batchnorm(MobileNetMini()), "script")
    torch.manual_seed(0)
    write("skip", SkipNet(), "script")
    torch.manual_seed(0)
    write("branches", randomize_batchnorm(BranchNet()), "script")
    torch.manual_seed(0)
    write("nested", randomize_batchnorm(NestedNet()), "script")
    torch.manual_seed(0)
    write("odd_input", nn.Sequential(nn.Flatten(), nn.Linear(50, 3)), "script")
    # A PyTorch archive that is not TorchScript (the usual mistake: saving a state dict).
    torch.save({"weight": torch.arange(4.0)}, os.path.join(OUT, "ts_state_dict.pt"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)
                if f.startswith("ts_"))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
