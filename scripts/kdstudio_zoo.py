"""KD Studio's built-in model zoo in PyTorch, and a small safetensors reader/writer.

KD Studio saves models as ``.kdmodel`` files: plain safetensors files whose metadata holds
``format=kdstudio-model`` and ``architecture=<zoo spec>`` (docs/model-files.md). This module
rebuilds every zoo architecture as a ``torch.nn.Module`` with exactly the state-dict names,
shapes and forward computation of the C++ networks, so an exported student runs in PyTorch and
gives the same logits as in KD Studio.

Usage::

    import torch
    import kdstudio_zoo as zoo

    model, metadata = zoo.load_model("student.kdmodel")   # built from its spec, weights loaded
    model.eval()
    logits = model(images)                    # images: (B, C, H, W), standardized as in training
    feature = model.forward_to(images, 3)     # output of generalized layer 3

    net = zoo.build("resnet9:channels=1,size=28,width=0.25")   # fresh weights
    zoo.save_model(net, "mine.kdmodel")                         # KD Studio can open this file

Only ``torch`` is required (no ``safetensors`` package): ``load_safetensors`` and
``save_safetensors`` implement the format with ``json`` and ``struct``.

Spec syntax: ``arch[:key=value,...]`` with arch one of ARCHITECTURES and keys
``channels`` (or ``in``), ``size``, ``classes``, ``width``, ``downsample`` (auto, on, off).
"""
import json
import math
import re
import struct
import sys
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ARCHITECTURES", "ZooSpec", "parse_spec", "build", "ZooNetwork",
    "load_safetensors", "save_safetensors", "load_model", "save_model",
]

ARCHITECTURES = ("resnet9", "resnet18", "resnet34", "mobilenetv2", "vgg11_bn", "vgg19_bn",
                 "vit_b", "vit_ett")

MODEL_FORMAT = "kdstudio-model"  # value of the "format" metadata entry of a .kdmodel file
MODEL_FORMAT_VERSION = "1"


# ---------------------------------------------------------------------------------------------
# Spec


@dataclass
class ZooSpec:
    """A zoo architecture and its options, as written "resnet9:channels=1,size=28,width=0.25"."""

    arch: str = "resnet9"
    channels: int = 3        # input channels (1 for Fashion-MNIST)
    size: int = 32           # input height = width
    classes: int = 10
    width: float = 1.0       # channel (and ViT head-dimension) multiplier
    downsample: str = "auto"  # stride-2 stem / ViT patch 8; "auto" = when size >= 64

    def stem_downsamples(self) -> bool:
        """True when the stem downsamples (the Tiny-ImageNet variant)."""
        if self.downsample == "on":
            return True
        if self.downsample == "off":
            return False
        return self.size >= 64

    def __str__(self) -> str:
        """Canonical text form, identical to KD Studio's: options that differ from defaults."""
        d = ZooSpec()
        opts = []
        if self.channels != d.channels:
            opts.append(f"channels={self.channels}")
        if self.size != d.size:
            opts.append(f"size={self.size}")
        if self.classes != d.classes:
            opts.append(f"classes={self.classes}")
        if self.width != d.width:
            opts.append(f"width={self.width!r}")  # shortest round-trip, as C++ std::to_chars
        if self.downsample != d.downsample:
            opts.append(f"downsample={self.downsample}")
        return self.arch + (":" + ",".join(opts) if opts else "")


_INT_RE = re.compile(r"\s*[+-]?\d+")
_FLOAT_RE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _parse_int(key, value, lo, hi):
    if _INT_RE.fullmatch(value) and lo <= int(value) <= hi:
        return int(value)
    raise ValueError(f"model option {key}={value}: expected a whole number from {lo} to {hi}")


def _parse_width(value):
    if _FLOAT_RE.fullmatch(value):
        w = float(value)
        if math.isfinite(w) and 0 < w <= 4:
            return w
    raise ValueError(f"model option width={value}: expected a number in (0, 4], e.g. 0.25")


def parse_spec(text: str) -> ZooSpec:
    """Parses "arch[:key=value,...]" exactly as KD Studio does; raises ValueError otherwise."""
    arch, colon, rest = text.partition(":")
    spec = ZooSpec(arch=arch.lower())
    if spec.arch not in ARCHITECTURES:
        raise ValueError(f"unknown model '{spec.arch}' (the zoo has: {', '.join(ARCHITECTURES)})")
    for item in rest.split(",") if colon else []:
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"model option '{item}' in '{text}': expected key=value")
        if key in ("channels", "in"):
            spec.channels = _parse_int(key, value, 1, 64)
        elif key == "size":
            spec.size = _parse_int(key, value, 8, 1024)
        elif key == "classes":
            spec.classes = _parse_int(key, value, 2, 100000)
        elif key == "width":
            spec.width = _parse_width(value)
        elif key == "downsample":
            if value not in ("auto", "on", "off"):
                raise ValueError(f"model option downsample={value}: expected auto, on or off")
            spec.downsample = value
        else:
            raise ValueError(f"unknown model option '{key}' in '{text}' "
                             "(valid: channels, size, classes, width, downsample)")
    return spec


def scaled(channels: int, width: float) -> int:
    """Channel count times the width multiplier, rounded half away from zero, at least 1."""
    x = channels * width
    whole = math.floor(x)
    rounded = whole + 1 if x - whole >= 0.5 else whole  # C's llround, not banker's rounding
    return max(1, int(rounded))


# ---------------------------------------------------------------------------------------------
# Blocks: each is one generalized layer (or the classifier tail) of KD Studio's layer table.


def _conv(cin, cout, kernel, stride, groups=1, bias=False):
    """Conv2d with 'same' padding for odd kernels; no bias unless asked (a BatchNorm follows)."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups,
                     bias=bias)


def _max_pool2_ceil(x):
    # ceil_mode keeps odd sizes valid (28 -> 14 -> 7 -> 4 -> 2 -> 1); at 32 it changes nothing.
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


_ACTIVATIONS = {
    None: lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
    "gelu": F.gelu,  # exact (erf) GELU
}


class ConvBnAct(nn.Module):
    """[MaxPool2d(2, ceil_mode)] + Conv2d + BatchNorm2d + activation.

    State dict: conv.weight (and conv.bias in VGG, as torchvision),
    bn.{weight,bias,running_mean,running_var,num_batches_tracked}.
    """

    def __init__(self, cin, cout, kernel, stride, act, groups=1, pool_first=False, bias=False):
        super().__init__()
        self.conv = _conv(cin, cout, kernel, stride, groups, bias)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act
        self.pool_first = pool_first

    def forward(self, x):
        if self.pool_first:
            x = _max_pool2_ceil(x)
        return _ACTIVATIONS[self.act](self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The shortcut is ``downsample`` = Sequential(1x1 conv, BatchNorm2d) when the stride or the
    channel count changes, else the identity.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = _conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv(cout, cout, 3, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + identity)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand ConvBnAct] + 3x3 depthwise ConvBnAct + 1x1 conv + BN.

    ``conv`` is a Sequential: with expansion, conv.0 (expand), conv.1 (depthwise), conv.2
    (projection Conv2d), conv.3 (BatchNorm2d); without, conv.0 (depthwise), conv.1, conv.2.
    Residual when the stride is 1 and the channel count is kept.
    """

    def __init__(self, cin, cout, stride, expand_ratio):
        super().__init__()
        hidden = cin * expand_ratio
        parts = []
        if expand_ratio != 1:
            parts.append(ConvBnAct(cin, hidden, 1, 1, "relu6"))
        parts += [ConvBnAct(hidden, hidden, 3, stride, "relu6", groups=hidden),
                  _conv(hidden, cout, 1, 1), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*parts)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_residual else y


class PoolFlatten(nn.Module):
    """Global average pool (ResNet, MobileNetV2) or ceil-mode 2x2 max-pool (VGG), then flatten."""

    def __init__(self, pool):
        super().__init__()
        assert pool in ("avg", "max2")
        self.pool = pool

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, 1) if self.pool == "avg" else _max_pool2_ceil(x)
        return torch.flatten(x, 1)


class LinearAct(nn.Module):
    """[Dropout] + Linear + ReLU: a VGG head layer. State dict: fc.weight, fc.bias."""

    def __init__(self, cin, cout, dropout_before):
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.dropout = dropout_before

    def forward(self, x):
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        return F.relu(self.fc(x))


class PatchEmbed(nn.Module):
    """ViT input layer: patch Conv2d (stride = patch), class token prepended, position embedding
    added. Output (B, 1 + patches, dim). State dict: proj.weight, proj.bias, cls_token, pos_embed.
    """

    def __init__(self, channels, image_size, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)
        patches = (image_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, patches + 1, dim) * 0.02)

    def forward(self, x):
        p = self.proj(x).flatten(2).transpose(1, 2)  # (B, patches, dim)
        cls = self.cls_token.expand(p.shape[0], -1, -1)
        return torch.cat([cls, p], 1) + self.pos_embed


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + proj(MHSA(norm1(x))); x + fc2(gelu(fc1(norm2(x)))).

    LayerNorms use eps 1e-6 (as torchvision's ViT and KD Studio). ``qkv`` packs the query, key and
    value projections: output features [q | k | v], each split into ``heads`` heads.
    """

    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def attention(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, heads, T, hd)
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), -1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Classifier(nn.Module):
    """The tail after the last generalized layer: [LayerNorm + mean over all tokens (ViT)]
    + [Dropout] + Linear. State dict: [norm.weight, norm.bias,] fc.weight, fc.bias."""

    def __init__(self, cin, classes, dropout, token_mean_with_norm):
        super().__init__()
        self.norm = nn.LayerNorm(cin, eps=1e-6) if token_mean_with_norm else None
        self.fc = nn.Linear(cin, classes)
        self.dropout = dropout

    def forward(self, x):
        if self.norm is not None:
            x = self.norm(x).mean(1)  # all tokens, class token included
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------
# Networks


class ZooNetwork(nn.Module):
    """A zoo network: ``layers`` (one entry per generalized layer) then ``classifier``.

    ``head_start`` is the index of the first layer that belongs to the head (VGG's two
    Linear+ReLU layers); it equals ``len(layers)`` when the head is the classifier alone.
    """

    def __init__(self, spec: ZooSpec):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList()
        self.classifier = None
        self.head_start = 0

    def forward(self, x):
        """Input (B, C, H, W) -> logits (B, classes)."""
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x)

    def forward_to(self, x, layer: int):
        """Input -> output of generalized layer ``layer`` (0-based)."""
        if not 0 <= layer < len(self.layers):
            raise IndexError(f"layer {layer} is out of range 0..{len(self.layers) - 1}")
        for block in self.layers[: layer + 1]:
            x = block(x)
        return x


def _build_resnet(s, blocks_per_stage):
    net = ZooNetwork(s)
    cin = scaled(64, s.width)
    net.layers.append(ConvBnAct(s.channels, cin, 3, 2 if s.stem_downsamples() else 1, "relu"))
    for stage, (base, count) in enumerate(zip((64, 128, 256, 512), blocks_per_stage)):
        cout = scaled(base, s.width)
        for i in range(count):
            net.layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    net.layers.append(PoolFlatten("avg"))
    net.classifier = Classifier(cin, s.classes, 0.0, False)
    net.head_start = len(net.layers)
    return net


# MobileNetV2 stages: expansion t, channels c, repeats n, first stride (CIFAR: stem stride 1).
_MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _build_mobilenetv2(s):
    net = ZooNetwork(s)
    cin = scaled(32, s.width)
    net.layers.append(ConvBnAct(s.channels, cin, 3, 2 if s.stem_downsamples() else 1, "relu6"))
    for t, c, n, first_stride in _MOBILENETV2_STAGES:
        cout = scaled(c, s.width)
        for i in range(n):
            net.layers.append(InvertedResidual(cin, cout, first_stride if i == 0 else 1, t))
            cin = cout
    last = scaled(1280, s.width)
    net.layers.append(ConvBnAct(cin, last, 1, 1, "relu6"))
    net.layers.append(PoolFlatten("avg"))
    net.classifier = Classifier(last, s.classes, 0.2, False)
    net.head_start = len(net.layers)
    return net


_VGG_CONFIGS = {  # channels per conv; "M" = 2x2 ceil-mode max-pool
    "vgg11_bn": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg19_bn": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"),
}


def _build_vgg(s, cfg):
    net = ZooNetwork(s)
    cin = s.channels
    spatial = (s.size + 1) // 2 if s.stem_downsamples() else s.size
    pending_pool, first = False, True
    for c in cfg:
        if c == "M":
            pending_pool = True
            continue
        cout = scaled(c, s.width)
        stride = 2 if first and s.stem_downsamples() else 1
        # A max-pool starts the next layer, so each layer ends with its ReLU.
        net.layers.append(ConvBnAct(cin, cout, 3, stride, "relu", pool_first=pending_pool,
                                    bias=True))
        if pending_pool:
            spatial = (spatial + 1) // 2
        pending_pool = first = False
        cin = cout
    net.layers.append(PoolFlatten("max2"))  # the last max-pool, then flatten
    spatial = (spatial + 1) // 2
    hidden = scaled(512, s.width)
    net.head_start = len(net.layers)
    net.layers.append(LinearAct(cin * spatial * spatial, hidden, 0.0))
    net.layers.append(LinearAct(hidden, hidden, 0.5))
    net.classifier = Classifier(hidden, s.classes, 0.5, False)
    return net


def _build_vit(s, dim, heads, mlp, blocks):
    patch = 8 if s.stem_downsamples() else 4
    if s.size % patch:
        raise ValueError(f"{s.arch}: input size {s.size} is not a multiple of the patch size {patch}")
    d = scaled(dim // heads, s.width) * heads  # the width scales the head dimension
    m = scaled(mlp, s.width)
    net = ZooNetwork(s)
    net.layers.append(PatchEmbed(s.channels, s.size, patch, d))
    for _ in range(blocks):
        net.layers.append(EncoderBlock(d, heads, m))
    net.classifier = Classifier(d, s.classes, 0.0, True)
    net.head_start = len(net.layers)
    return net


def build(spec) -> ZooNetwork:
    """Builds a zoo network (fresh weights) from a spec string or ZooSpec."""
    s = parse_spec(spec) if isinstance(spec, str) else spec
    if s.arch == "resnet9":
        return _build_resnet(s, (1, 1, 1, 1))
    if s.arch == "resnet18":
        return _build_resnet(s, (2, 2, 2, 2))
    if s.arch == "resnet34":
        return _build_resnet(s, (3, 4, 6, 3))
    if s.arch == "mobilenetv2":
        return _build_mobilenetv2(s)
    if s.arch in _VGG_CONFIGS:
        return _build_vgg(s, _VGG_CONFIGS[s.arch])
    if s.arch == "vit_b":
        return _build_vit(s, 768, 12, 3072, 12)
    if s.arch == "vit_ett":
        return _build_vit(s, 192, 6, 576, 8)
    raise ValueError(f"unknown zoo architecture '{s.arch}'")


# ---------------------------------------------------------------------------------------------
# safetensors

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}  # torch dtype -> safetensors dtype name
_MAX_HEADER = 64 << 20  # same limit as KD Studio


def _check_little_endian():
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; big-endian hosts are not supported")


def _parse_entry(path, name, info):
    """Validates one header entry; returns (name, dtype, shape, begin, end)."""
    def is_uint(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    where = f"{path}: tensor '{name}'"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise ValueError(f"{where} needs dtype, shape and data_offsets")
    shape, offsets = info["shape"], info["data_offsets"]
    if info["dtype"] not in _DTYPES:
        raise ValueError(f"{where} has an unsupported dtype {info['dtype']!r}")
    if not isinstance(shape, list) or not all(is_uint(d) and d < 2**63 for d in shape):
        raise ValueError(f"{where} has an invalid shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_uint(o) for o in offsets):
        raise ValueError(f"{where} has invalid data_offsets {offsets!r}")
    dtype = _DTYPES[info["dtype"]]
    item = torch.empty((), dtype=dtype).element_size()
    begin, end = offsets
    if end < begin or end - begin != math.prod(shape) * item:
        raise ValueError(f"{where}: data_offsets {offsets} do not match its shape and dtype")
    return name, dtype, shape, begin, end


def load_safetensors(path):
    """Reads a safetensors file. Returns (dict name -> CPU tensor, metadata dict of str).

    Raises ValueError naming the problem when the file is not valid safetensors.
    """
    _check_little_endian()
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path} is too short to be a safetensors file ({len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER or header_len > len(data) - 8:
        raise ValueError(f"{path}: header length {header_len} is larger than the file or limit")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: the safetensors header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: __metadata__ must map names to strings")
    blob = memoryview(data)[8 + header_len:]
    entries = sorted((_parse_entry(path, name, info) for name, info in header.items()),
                     key=lambda e: e[3])
    tensors, expected = {}, 0
    for name, dtype, shape, begin, end in entries:
        if begin != expected:  # the tensors must tile the data section exactly
            raise ValueError(f"{path}: tensor data of '{name}' overlaps or leaves a gap")
        expected = end
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=dtype)
        elif end <= len(blob):
            raw = bytearray(blob[begin:end])  # a writable copy the tensor owns
            tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(shape)
    if expected != len(blob):
        raise ValueError(f"{path} is truncated or has trailing bytes: the header describes "
                         f"{expected} bytes of tensor data, the file holds {len(blob)}")
    return tensors, dict(metadata)


def _tensor_bytes(t):
    raw = t.reshape(-1).view(torch.uint8)
    try:
        return raw.numpy().tobytes()
    except (ImportError, RuntimeError):  # PyTorch built without NumPy
        return bytes(raw.tolist())


def save_safetensors(path, tensors, metadata=None):
    """Writes a dict name -> tensor (any device; moved to CPU, made contiguous) and a metadata
    dict of strings as a safetensors file. The header is padded with spaces to a multiple of 8
    bytes so the data section is aligned."""
    _check_little_endian()
    metadata = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata keys and values must be strings")
    header = {"__metadata__": metadata} if metadata else {}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved and cannot name a tensor")
        t = tensor.detach().cpu().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise TypeError(f"tensor '{name}': dtype {t.dtype} cannot be stored in safetensors")
        chunk = _tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


# ---------------------------------------------------------------------------------------------
# KD Studio model files


def load_model(path):
    """Opens a KD Studio model file (.kdmodel, or its .safetensors export).

    Returns (ZooNetwork with the stored weights, in eval mode; metadata dict). Raises ValueError
    when the file is not a KD Studio model file, and RuntimeError (from load_state_dict) when its
    tensors do not fit the architecture.
    """
    tensors, metadata = load_safetensors(path)
    if metadata.get("format") != MODEL_FORMAT or "architecture" not in metadata:
        raise ValueError(f"{path} is not a KD Studio model file (metadata format="
                         f"{metadata.get('format')!r}, architecture missing or present: "
                         f"{'architecture' in metadata})")
    model = build(metadata["architecture"])
    model.load_state_dict(tensors, strict=True)
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{path}: tensor '{name}' contains NaN or Inf values")
    return model.eval(), metadata


def save_model(model: ZooNetwork, path, metadata=None):
    """Saves a ZooNetwork as a KD Studio model file that the app and CLI can open."""
    meta = dict(metadata or {})
    meta.update(format=MODEL_FORMAT, format_version=MODEL_FORMAT_VERSION,
                architecture=str(model.spec))
    save_safetensors(path, model.state_dict(), meta)
