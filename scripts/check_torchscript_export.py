#!/usr/bin/python3
"""Evaluates a TorchScript student exported by KD Studio in PyTorch, on Fashion-MNIST's test split.

Run with Debian's Python, which has torch:

    /usr/bin/python3 scripts/check_torchscript_export.py student.pt
    /usr/bin/python3 scripts/check_torchscript_export.py student.pt --per-class 20 --seed 0

where student.pt comes from `kdstudio-cli export RUN_DIR --format torchscript --out student.pt`.
It prints the test accuracy in percent; for a run on Fashion-MNIST it equals result.json's
`last_test_acc` of the exported seed, which shows that the exported file is the trained student
and that PyTorch sees the same inputs as KD Studio.

Everything KD Studio does to the data is repeated here from its sources, not imported:

- images and labels are read from the IDX gz files (core/data/idx_reader.cpp);
- each pixel becomes (x / 255 - mean) / std (core/data/transforms.cpp, to_normalized_float),
  with the mean and population standard deviation of the *whole* training split (also when a
  run trains on a subset: experiment_setup.cpp calls compute_channel_stats on data.train),
  computed from per-value counts in float64 and rounded to float32 as compute_channel_stats does;
- with --per-class N the test subset is kd::balanced_subset(test labels, 10, N, seed)
  (core/data/balanced_subset.cpp, seeded_random.h: splitmix64 seed mixing, std::mt19937_64,
  unbiased bounded draws, a partial Fisher-Yates shuffle per class). A run uses its config's
  "seed" (the first seed) for the test subset, for every seed it trains; pass that as --seed.
  Without --per-class the whole test split is used (a run with test_per_class 0).
"""
import argparse
import gzip
import os
import struct
import sys

import torch

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
MASK64 = (1 << 64) - 1
EVAL_BATCH = 512  # as the trainer's kEvalBatch; the batch size does not change the result


def read_idx(path, magic):
    """The array of an IDX file (uint8 data) as a tensor; checks the magic number."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        sys.exit("%s: not an IDX file with magic 0x%08x" % (path, magic))
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = bytearray(data[4 + 4 * ndim:])
    return torch.frombuffer(body, dtype=torch.uint8).reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz"), 0x00000803)
    labels = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz"), 0x00000801)
    return images.unsqueeze(1), labels.to(torch.int64)  # N x 1 x 28 x 28


def channel_stats(images):
    """compute_channel_stats: counts of each byte value, reduced in float64, then float32."""
    counts = torch.bincount(images.reshape(-1), minlength=256).tolist()
    n = float(sum(counts))
    total = 0.0
    for v in range(256):
        total += counts[v] * (v / 255.0)
    mean = total / n
    squares = 0.0
    for v in range(256):
        d = v / 255.0 - mean
        squares += counts[v] * d * d
    return float(torch.tensor(mean, dtype=torch.float32)), float(
        torch.tensor((squares / n) ** 0.5, dtype=torch.float32))


def normalize(uint8_batch, mean, std):
    """to_normalized_float: x * (1 / (255 std)) + (-mean / std) in float32."""
    sd = torch.tensor(std, dtype=torch.float32)
    scale = torch.tensor(1.0, dtype=torch.float32) / (torch.tensor(255.0, dtype=torch.float32) * sd)
    shift = -torch.tensor(mean, dtype=torch.float32) / sd
    return torch.addcmul(shift.view(1, 1, 1), uint8_batch.to(torch.float32), scale.view(1, 1, 1))


def mix_seed(a, b=0, c=0):
    """kd::mix_seed: splitmix64 steps over the words."""
    state = 0x9E3779B97F4A7C15
    for word in (a, b, c):
        state = (state + word + 0x9E3779B97F4A7C15) & MASK64
        state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & MASK64
        state ^= state >> 31
    return state


class MT19937_64:
    """std::mt19937_64 (its output is fixed by the C++ standard)."""
    N, M = 312, 156

    def __init__(self, seed):
        mt = [seed & MASK64]
        for i in range(1, self.N):
            mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & MASK64)
        self.mt, self.index = mt, self.N

    def _twist(self):
        mt = self.mt
        for i in range(self.N):
            x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % self.N] & 0x7FFFFFFF)
            mt[i] = mt[(i + self.M) % self.N] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
        self.index = 0

    def next(self):
        if self.index >= self.N:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64

    def below(self, n):
        """SeededRandom::below: uniform in [0, n) by rejection, without modulo bias."""
        threshold = ((1 << 64) - n) % n
        while True:
            r = self.next()
            if r >= threshold:
                return r % n


def balanced_subset(labels, num_classes, per_class, seed):
    """kd::balanced_subset: per class, a partial Fisher-Yates choice, sorted; classes ascending."""
    subset = []
    values = labels.tolist()
    for c in range(num_classes):
        group = [i for i, v in enumerate(values) if v == c]
        take = min(len(group), per_class)
        rng = MT19937_64(mix_seed(seed, c))
        for i in range(take):
            if i + 1 >= len(group):
                break
            j = i + rng.below(len(group) - i)
            group[i], group[j] = group[j], group[i]
        subset += sorted(group[:take])
    return subset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="TorchScript file from 'kdstudio-cli export --format torchscript'")
    parser.add_argument("--per-class", type=int, default=0,
                        help="test images per class as the run's test_per_class (0 = all)")
    parser.add_argument("--seed", type=int, default=0, help="the run's config seed (default 0)")
    parser.add_argument("--data", default=DEFAULT_DATA, help="Fashion-MNIST folder (IDX gz files)")
    args = parser.parse_args()

    train_images, _ = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "t10k")
    mean, std = channel_stats(train_images)
    if args.per_class > 0:
        indices = torch.tensor(balanced_subset(test_labels, 10, args.per_class, args.seed))
    else:
        indices = torch.arange(test_labels.numel())

    model = torch.jit.load(args.model, map_location="cpu")
    model.eval()
    correct = 0
    with torch.no_grad():
        for begin in range(0, indices.numel(), EVAL_BATCH):
            rows = indices[begin:begin + EVAL_BATCH]
            logits = model(normalize(test_images[rows], mean, std))
            if isinstance(logits, (tuple, list)):
                logits = logits[0]  # as ScriptedModel::forward: the first output
            correct += int((logits.argmax(1) == test_labels[rows]).sum())
    n = indices.numel()
    print("mean %.6f std %.6f" % (mean, std))
    print("test accuracy: %r %% (%d of %d images)" % (100.0 * correct / n, correct, n))


if __name__ == "__main__":
    main()
