#!/usr/bin/env python3
"""Load a Concept Atlas dictionary (a `train` key folder) in Python and reproduce its encoder.

    python3 scripts/load_weights.py <train_dir> <embeddings.npy> [--json]

<train_dir> holds weights.safetensors and config.json (written by the `train` stage);
<embeddings.npy> is a float32 array (n, d). Prints the codes' shape, ℓ0 and R² (or, with
--json, the dense codes and reconstruction as JSON). Needs numpy and the `safetensors`
package (pip install safetensors numpy); without `safetensors` it falls back to a 15-line
numpy reader of the same format.

In your own code:

    from load_weights import load, encode, decode
    config, w = load("cache/train/<key>")
    z = encode(config, w, x)          # (n, c) dense codes
    x_hat = decode(config, w, z)      # (n, d)
"""
import json
import struct
import sys

import numpy as np


def _read_safetensors_numpy(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"])
    return out


def load(train_dir):
    """Return (config dict, {tensor name: float32 numpy array}) of a train key folder."""
    with open(f"{train_dir}/config.json") as f:
        config = json.load(f)
    path = f"{train_dir}/weights.safetensors"
    try:
        from safetensors.numpy import load_file
        tensors = load_file(path)
    except ImportError:
        tensors = _read_safetensors_numpy(path)
    return config, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def _topk_rows(pre, k):
    # k largest per row (ties: lower column), value max(pre, 0)
    idx = np.argsort(-pre, axis=1, kind="stable")[:, :k]
    z = np.zeros_like(pre)
    rows = np.arange(pre.shape[0])[:, None]
    z[rows, idx] = np.maximum(pre[rows, idx], 0)
    return z


def _omp(x, D, k):
    n, c = x.shape[0], D.shape[0]
    z = np.zeros((n, c), dtype=np.float64)
    for i in range(n):
        support, r = [], x[i].astype(np.float64)
        coef = np.zeros(0)
        for _ in range(k):
            corr = np.abs(D @ r)
            corr[support] = -1
            support.append(int(np.argmax(corr)))
            Ds = D[support].T
            coef = np.linalg.lstsq(Ds, x[i], rcond=None)[0]
            r = x[i] - Ds @ coef
        z[i, support] = coef
    return z


def encode(config, w, x):
    """Dense codes (n, c) of rows x (n, d) under the exported model, as the pipeline computes them."""
    x = np.asarray(x, dtype=np.float64)
    method = config["method"]
    if method in ("relu", "topk", "batchtopk", "jumprelu", "matryoshka"):
        b_dec = w.get("b_dec", np.zeros(x.shape[1], dtype=np.float32))
        pre = (x - b_dec) @ w["W_enc"] + w["b_enc"]
        if method == "topk":
            return _topk_rows(pre, int(config["k"]))
        theta = w.get("threshold", np.zeros(1, dtype=np.float32))  # 1 value or one per concept
        return np.where(pre > theta, pre, 0.0)
    if method == "pca":  # dense, signed
        return x @ w["W_enc"] + w["b_enc"]
    D = w["W_dec"].astype(np.float64)
    if method == "kmeans":  # 1-sparse: the best unit direction, its non-negative projection
        s = x @ D.T
        j = np.argmax(s, axis=1)
        z = np.zeros_like(s)
        z[np.arange(len(j)), j] = np.maximum(s[np.arange(len(j)), j], 0)
        return z
    if method == "omp":  # exactly k atoms per row, signed least-squares coefficients
        return _omp(x, D, int(config["k"]))
    if method == "seminmf":  # non-negative codes by multiplicative updates, D fixed
        P, N = x @ D.T, D @ D.T
        z = np.maximum(np.linalg.solve(N + 1e-6 * np.eye(len(N)), P.T).T, 0) + 1e-3
        Pp, Pn, Np_, Nn = np.maximum(P, 0), np.maximum(-P, 0), np.maximum(N, 0), np.maximum(-N, 0)
        for _ in range(int(config["encode_iterations"])):
            z = z * np.sqrt((Pp + z @ Nn) / (Pn + z @ Np_ + 1e-12))
        z[z < 1e-7] = 0
        return z
    raise ValueError(f"unknown method {method!r}")


def decode(config, w, z):
    """Reconstruction (n, d) = z @ W_dec (+ b_dec when the model has one)."""
    out = z @ w["W_dec"]
    if "b_dec" in w:
        out = out + w["b_dec"]
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    config, w = load(argv[1])
    x = np.load(argv[2]).astype(np.float32)
    z = encode(config, w, x)
    x_hat = decode(config, w, z)
    if "--json" in argv:
        print(json.dumps({"codes": z.tolist(), "reconstruction": x_hat.tolist()}))
        return 0
    l0 = float((z != 0).sum(axis=1).mean())
    r2 = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    print(f"{config['method']}: codes {z.shape}, l0 {l0:.2f}, r2 {r2:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
