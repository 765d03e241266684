#!/usr/bin/python3
"""Writes tests/fixtures/geometry_reference.json, the numpy reference values of
tests/core/test_geometry.cpp (core/analysis/geometry.cpp).

Run with Debian's Python, which has numpy:  /usr/bin/python3 scripts/reference_geometry.py

Everything is float64 and small. The inputs are rounded to 3 decimals so that the JSON text is
exactly the matrix the C++ test reads. Each value is computed here independently of the C++
code, by the textbook formula:
  cka    linear CKA (Kornblith et al. 2019) in the feature form ||Y^T X||_F^2 /
         (||X^T X||_F ||Y^T Y||_F) on column-centered X and Y
  pca    PCA by numpy's SVD of the centered X: coordinates U S (first two components) with each
         component's sign chosen so that the largest-magnitude entry of its right singular
         vector (its loading) is positive, and the explained variance ratios s_k^2 / sum s^2
  twonn  TwoNN (Facco et al. 2017) by brute force: d = N / sum ln(r2 / r1)
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "geometry_reference.json")


def rounded(rng, *shape):
    return np.round(rng.standard_normal(shape), 3)


def centered(a):
    return a - a.mean(axis=0, keepdims=True)


def linear_cka(x, y):
    x, y = centered(x), centered(y)
    return (np.linalg.norm(y.T @ x) ** 2 /
            (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def pca(x, dims):
    u, s, vt = np.linalg.svd(centered(x), full_matrices=False)
    coords = u[:, :dims] * s[:dims]
    for k in range(dims):
        loading = vt[k]
        if loading[np.argmax(np.abs(loading))] < 0:
            coords[:, k] = -coords[:, k]
    ratio = s[:dims] ** 2 / np.sum(s ** 2)
    return coords, ratio


def twonn(x):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    r = np.sort(d, axis=1)
    return len(x) / np.sum(np.log(r[:, 1] / r[:, 0]))


def main():
    rng = np.random.default_rng(20240611)
    cka_x = rounded(rng, 8, 5)
    cka_y = np.round(cka_x[:, :3] @ rounded(rng, 3, 4) + 0.5 * rounded(rng, 8, 4), 3)
    pca_x = rounded(rng, 10, 6) * np.array([4.0, 3.0, 2.0, 1.0, 0.5, 0.25]) + 1.5
    pca_wide = rounded(rng, 6, 9) * np.linspace(3.0, 0.2, 9)
    twonn_x = rounded(rng, 40, 3)
    coords, ratio = pca(pca_x, 2)
    wide_coords, wide_ratio = pca(pca_wide, 2)
    ref = {
        "cka": {"x": cka_x.tolist(), "y": cka_y.tolist(), "value": linear_cka(cka_x, cka_y)},
        "pca": {"x": pca_x.tolist(), "coords": coords.tolist(), "ratio": ratio.tolist()},
        "pca_wide": {"x": pca_wide.tolist(), "coords": wide_coords.tolist(),
                     "ratio": wide_ratio.tolist()},
        "twonn": {"x": twonn_x.tolist(), "value": twonn(twonn_x)},
    }
    with open(OUT, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
