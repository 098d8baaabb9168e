#!/usr/bin/python3
"""Independent PyTorch reference of the MTSA forward pass (docs/method.md, "MTSA").

Written from the method description, not from the C++ code, to check it:
    mtsa_reference.py ADAPTER_DIR INPUTS.safetensors OUTPUTS.safetensors

ADAPTER_DIR holds adapter.json and adapter.safetensors (formats/adapter.md). INPUTS holds
"tiers" [B, T, N, d]. OUTPUTS receives "out" [B, T, d] and "attention" [B, T, N-1] (the
L1-normalised a_i), float64. Everything is computed in float64, in eval mode (no dropout).
Safetensors files are parsed and written by hand so that this script shares no code with
the library it checks. Run with Debian's interpreter (/usr/bin/python3: torch, numpy).
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = blob[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float64))
    return tensors


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        raw = tensors[name].detach().contiguous().to(torch.float64).numpy().astype("<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def project(w, i, projection, feature):
    """Tier i's projection d -> h."""
    p = "proj.%d." % i
    if projection == "linear-ln":
        y = F.linear(feature, w[p + "linear.weight"], w[p + "linear.bias"])
        return F.layer_norm(y, (y.shape[-1],), w[p + "norm.weight"], w[p + "norm.bias"], eps=1e-5)
    assert projection == "gated", projection
    u = torch.relu(F.linear(feature, w[p + "fc1.weight"], w[p + "fc1.bias"]))
    value = F.linear(u, w[p + "fc2.weight"], w[p + "fc2.bias"]) + u
    return value * torch.sigmoid(F.linear(u, w[p + "fc3.weight"], w[p + "fc3.bias"]))


def cosine(a, b):
    """cos(a, b) with 1e-8 added to each l2 norm, over the last dimension."""
    a_unit = a / (a.pow(2).sum(-1, keepdim=True).sqrt() + 1e-8)
    b_unit = b / (b.pow(2).sum(-1, keepdim=True).sqrt() + 1e-8)
    return (a_unit * b_unit).sum(-1)


def mtsa(w, method, tiers):
    n = tiers.shape[2]
    xs = [project(w, i, method["projection"], tiers[:, :, i, :]) for i in range(n)]
    guide, shallow = xs[-1], xs[:-1]
    last = tiers[:, :, n - 1, :]

    z = guide.clone()
    attention = torch.zeros(tiers.shape[0], tiers.shape[1], n - 1, dtype=torch.float64)
    if shallow:
        weights = []
        for x_i in shallow:
            r_i = sum(torch.relu(cosine(x_i, x_j)) for x_j in shallow)
            s_i = F.linear(x_i * guide, w["attn.weight"], w["attn.bias"]).squeeze(-1)
            weights.append(torch.relu(s_i) / r_i)
        total = sum(a.abs() for a in weights) + 1e-8
        for i, (a_i, x_i) in enumerate(zip(weights, shallow)):
            attention[:, :, i] = a_i / total
            z = z + (a_i / total).unsqueeze(-1) * x_i

    up = F.linear(torch.relu(z), w["out.linear.weight"], w["out.linear.bias"])
    if method["output"] == "ln":
        up = F.layer_norm(up, (up.shape[-1],), w["out.norm.weight"], w["out.norm.bias"], eps=1e-12)
    else:
        assert method["output"] == "linear", method["output"]
    gate = torch.tanh(w["gate"][0] / method["temperature"])
    return up + gate * last, attention


def main():
    adapter_dir, inputs_path, outputs_path = sys.argv[1:4]
    with open(adapter_dir + "/adapter.json") as f:
        method = json.load(f)["method"]
    weights = read_safetensors(adapter_dir + "/adapter.safetensors")
    tiers = read_safetensors(inputs_path)["tiers"]
    assert tiers.shape[2] == method["num_tiers"], (tiers.shape, method["num_tiers"])
    with torch.no_grad():
        out, attention = mtsa(weights, method, tiers)
    write_safetensors(outputs_path, {"out": out, "attention": attention})


if __name__ == "__main__":
    main()
