#!/usr/bin/python3
"""Writes tests/fixtures/kq_reference.json, the reference values of tests/core/test_knowledge_quality.cpp.

Run with Debian's Python, which has numpy:  /usr/bin/python3 scripts/reference_knowledge_quality.py

A deliberately plain implementation of the knowledge quality Q of method.md section 2, written
from the formulas and independent of the C++ (core/analysis/knowledge_quality.cpp): the full
|A| x |A| matrices in float64, Python loops over classes and pairs, numpy's SVD for the spectra
of sample B. It follows the edge-case conventions of docs/analysis.md:
  - P_ab = |cos| with u = 0 for a zero vector (so P = 0 for its pairs);
  - AvgIntra/MinIntra over pairs a != b; classes with fewer than 2 samples in A are left out of
    their means; classes absent from A are left out of every class mean and class pair;
  - H_c = 0 when the centered class has no variance (one sample, all identical, all zero);
    classes absent from B are left out of mean_c H_c;
  - E = 0 when every feature of A is zero (mean AvgNorm = 0).

Features are multiples of 1/16 (exact in float32 and short in JSON); the C++ test loads them as
float32 and must reproduce every number to ~1e-6 relative. Seeds are fixed, so the file is the
same on every run.
"""
import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "kq_reference.json")


def quality(xa, la, xb, lb, num_classes, n_train):
    xa = np.asarray(xa, dtype=np.float64)
    xb = np.asarray(xb, dtype=np.float64)
    la = np.asarray(la)
    lb = np.asarray(lb)
    n, d = xa.shape
    norms = np.sqrt((xa * xa).sum(axis=1))
    u = np.zeros_like(xa)
    for a in range(n):
        if norms[a] > 0:
            u[a] = xa[a] / norms[a]
    p = np.abs(u @ u.T)
    dist = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            dist[a, b] = np.sqrt(((xa[a] - xa[b]) ** 2).sum())
    present = [c for c in range(num_classes) if (la == c).sum() >= 1]
    paired = [c for c in present if (la == c).sum() >= 2]
    avg_intra, min_intra, avg_norm, min_dist = [], [], [], []
    for c in paired:
        idx = np.flatnonzero(la == c)
        vals = [p[a, b] for a in idx for b in idx if a != b]
        avg_intra.append(np.mean(vals))
        min_intra.append(np.min(vals))
    for c in present:
        idx = np.flatnonzero(la == c)
        other = np.flatnonzero(la != c)
        avg_norm.append(norms[idx].mean())
        min_dist.append(min(dist[a, b] for a in idx for b in other))
    inter = []
    for c in present:
        for j in present:
            if j != c:
                ic, ij = np.flatnonzero(la == c), np.flatnonzero(la == j)
                inter.append(np.mean([p[a, b] for a in ic for b in ij]))
    entropies = []
    for c in range(num_classes):
        idx = np.flatnonzero(lb == c)
        if len(idx) == 0:
            continue
        xc = xb[idx] - xb[idx].mean(axis=0)
        s = np.linalg.svd(xc, compute_uv=False)
        total = (s ** 2).sum()
        h = 0.0
        if total > 0:
            for lam in s ** 2 / total:
                if lam > 0:
                    h -= lam * math.log(lam)
        entropies.append(h)
    pcagid = min(n, d)
    r = {
        "avg_intra": float(np.mean(avg_intra)),
        "avg_inter": float(np.mean(inter)),
        "min_intra": float(np.mean(min_intra)),
        "mean_entropy": float(np.mean(entropies)),
        "min_inter_dist": float(np.mean(min_dist)),
        "avg_norm": float(np.mean(avg_norm)),
        "pcagid": pcagid,
    }
    r["separation"] = r["avg_intra"] - r["avg_inter"]
    r["information"] = (1 - r["min_intra"]) * r["mean_entropy"] / math.log(5)
    if r["avg_norm"] > 0:
        r["efficiency"] = ((n_train / math.pi) ** (1.0 / pcagid) * 2 * r["min_inter_dist"] /
                           r["avg_norm"])
    else:
        r["efficiency"] = 0.0
    r["quality"] = r["separation"] + math.sqrt(r["information"] * r["efficiency"])
    return r


def q16(x):
    """Rounds to multiples of 1/16: exact in float32, short in JSON."""
    return np.round(np.asarray(x) * 16) / 16


def blobs(rng, sizes, d, spread=1.0, offset=0.0, relu=False):
    """Class-dependent means plus noise; labels interleaved (not sorted) on purpose."""
    means = rng.normal(0, 1.5, size=(len(sizes), d))
    rows, labels = [], []
    for c, k in enumerate(sizes):
        for _ in range(k):
            rows.append(means[c] + rng.normal(0, spread, size=d) + offset)
            labels.append(c)
    x = np.array(rows)
    if relu:
        x = np.maximum(x, 0)
    order = rng.permutation(len(labels))
    return q16(x[order]), np.array(labels)[order]


def make_cases():
    rng = np.random.default_rng(20251114)
    cases = []

    def add(name, xa, la, xb, lb, num_classes, n_train, note):
        cases.append({"name": name, "note": note, "num_classes": num_classes, "n_train": n_train,
                      "feats_a": np.asarray(xa).tolist(), "labels_a": np.asarray(la).tolist(),
                      "feats_b": np.asarray(xb).tolist(), "labels_b": np.asarray(lb).tolist()})

    # The hand-computed case of the C++ test (see its comment).
    add("hand_2x2", [[1, 0], [1, 1], [0, 2], [-1, 1]], [0, 0, 1, 1],
        [[1, 0], [-1, 0], [0, 1], [2, 0], [0, 2], [-2, 0], [0, -2]], [0, 0, 0, 1, 1, 1, 1],
        2, 4, "2 classes x 2 samples in 2-D; B spectra (3/4, 1/4) and (1/2, 1/2)")

    xa, la = blobs(rng, [5, 5, 5], 5)
    xb, lb = blobs(rng, [8, 8, 8], 5)
    add("generic", xa, la, xb, lb, 3, 50000, "|A| = 15 > D = 5; B classes larger than D")

    xa, la = blobs(rng, [4, 4, 4], 24)
    xb, lb = blobs(rng, [5, 5, 5], 24)
    add("wide_d_gt_a", xa, la, xb, lb, 3, 60000, "D = 24 > |A| = 12: PCAGID = |A|")

    xa, la = blobs(rng, [4, 1, 5], 6)
    xb, lb = blobs(rng, [5, 1, 4], 6)
    add("singleton_class", xa, la, xb, lb, 3, 1000,
        "class 1 has one sample in A (no intra pairs) and one in B (H = 0)")

    xa, la = blobs(rng, [4, 4, 4], 5)
    xa[np.flatnonzero(la == 0)[1]] = xa[np.flatnonzero(la == 0)[0]]  # P = 1 within class 0
    xa[np.flatnonzero(la == 1)[0]] = xa[np.flatnonzero(la == 2)[0]]  # distance 0 across classes
    xb, lb = blobs(rng, [5, 5, 5], 5)
    xb[np.flatnonzero(lb == 1)[2]] = xb[np.flatnonzero(lb == 1)[3]]
    add("identical_samples", xa, la, xb, lb, 3, 10,
        "duplicates within a class and across classes (MinInterDist of 1 and 2 is 0)")

    xa, la = blobs(rng, [5, 5, 5], 7)
    xa[np.flatnonzero(la == 0)[2]] = 0
    xa[np.flatnonzero(la == 2)[0]] = 0
    xa[np.flatnonzero(la == 2)[3]] = 0
    xb, lb = blobs(rng, [4, 4, 4], 7)
    xb[lb == 1] = 0
    add("zero_vectors", xa, la, xb, lb, 3, 100,
        "zero rows in A (P = 0 for their pairs, MinIntra = 0) and an all-zero class in B (H = 0)")

    xa, la = blobs(rng, [6, 2, 0, 3], 9)
    xb, lb = blobs(rng, [7, 3, 0, 2], 9)
    add("uneven_absent", xa, la, xb, lb, 4, 123456,
        "uneven class sizes; class 2 absent from A and B (left out of every mean)")

    xa, la = blobs(rng, [6, 6, 6], 16, spread=0.5, offset=3.0, relu=True)
    xb, lb = blobs(rng, [8, 8, 8], 16, spread=0.5, offset=3.0, relu=True)
    add("relu_offset", xa, la, xb, lb, 3, 50000,
        "non-negative features with a large common mean (cancellation in distances)")
    return cases


def main():
    cases = make_cases()
    for c in cases:
        c["expected"] = quality(c["feats_a"], c["labels_a"], c["feats_b"], c["labels_b"],
                                c["num_classes"], c["n_train"])
    with open(OUT, "w") as f:
        json.dump({"description": "Reference values of knowledge_quality (method.md section 2), "
                                  "written by scripts/reference_knowledge_quality.py",
                   "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        e = c["expected"]
        print(f"{c['name']:18s} S={e['separation']:.6f} I={e['information']:.6f} "
              f"E={e['efficiency']:.6f} Q={e['quality']:.6f}")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
