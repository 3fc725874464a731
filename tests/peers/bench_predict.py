"""The emulator networks of docs/science.md section 10 (paper and split architectures) in PyTorch eager, on the weights of an iaemu
model file, timed like examples/bench_predict.rs: 32,768 points x 20 Monte Carlo passes (as one
batched call, and as the usual loop of 20 passes), and one point x 20 passes.

    python tests/peers/bench_predict.py MODEL.safetensors THREADS [DEVICE]
    python tests/peers/bench_predict.py MODEL.safetensors check < points.json

The second form prints the plain (dropout off) prediction for the points (a JSON list of
7-lists) as JSON {"mean", "aleatoric_var"}: tests/emulator_peer.rs compares it with iaemu's.
Reads the safetensors file with the standard library and NumPy (no safetensors package), and
prints one JSON line. Used by scripts/bench-emulator.sh.
"""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_model(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header.pop("__metadata__")["iaemu"])
    data = raw[8 + n:]
    tensors = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(h["shape"]).copy())
    return meta, tensors


class Net(nn.Module):
    def __init__(self, cfg, n_bins):
        super().__init__()
        self.p, self.nb, self.length = cfg["dropout"], n_bins, cfg["bottleneck_length"]
        widths = [7] + cfg["encoder"]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.enc_bn = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])
        self.heads = nn.ModuleList()
        for _ in range(3):
            h = nn.Module()
            h.bottleneck = nn.Linear(widths[-1], n_bins * self.length)
            ch = [n_bins] + [c for c, _ in cfg["conv"]]
            h.convs = nn.ModuleList(nn.Conv1d(a, b, k, padding=(k - 1) // 2) for a, b, (_, k) in zip(ch, ch[1:], cfg["conv"]))
            h.bns = nn.ModuleList(nn.BatchNorm1d(b) for b in ch[1:])
            k = cfg["final_kernel"]
            h.last = nn.Conv1d(ch[-1], n_bins, k, stride=self.length // 2, padding=(k - 1) // 2)
            self.heads.append(h)

    def forward(self, x):
        for lin, bn in zip(self.enc, self.enc_bn):
            x = F.dropout(F.leaky_relu(bn(lin(x))), self.p, self.dropout_on)
        means, vars_ = [], []
        for h in self.heads:
            z = h.bottleneck(x).view(-1, self.nb, self.length)
            for conv, bn in zip(h.convs, h.bns):
                z = F.dropout(F.leaky_relu(bn(conv(z))), self.p, self.dropout_on)
            out = h.last(z)
            means.append(out[:, :, 0])
            vars_.append(F.softplus(out[:, :, 1]) + 1e-6)
        return torch.stack(means, 1), torch.stack(vars_, 1)


class Split(nn.Module):
    """The split architecture: a SiLU network per statistic for its means (dropout after every
    hidden layer) and one for the variances of all three (no dropout)."""

    def __init__(self, cfg, n_bins):
        super().__init__()
        self.p, self.nb = cfg["dropout"], n_bins
        def mlp(hidden, n_out):
            widths = [7] + hidden
            m = nn.Module()
            m.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
            m.out = nn.Linear(widths[-1], n_out)
            return m
        self.means = nn.ModuleList(mlp(cfg["encoder"], n_bins) for _ in range(3))
        self.variances = mlp(cfg.get("variance_encoder") or cfg["encoder"], 3 * n_bins)

    def forward(self, x):
        def run(m, dropout):
            h = x
            for lin in m.hidden:
                h = F.silu(lin(h))
                if dropout:
                    h = F.dropout(h, self.p, self.dropout_on)
            return m.out(h)
        means = torch.stack([run(m, True) for m in self.means], 1)
        var = F.softplus(run(self.variances, False).view(-1, 3, self.nb)) + 1e-6
        return means, var


def load(path, device):
    meta, t = read_model(path)
    cfg, nb = meta["config"], len(meta["r_edges"]) - 1
    if cfg.get("architecture", "paper") == "split":
        net = Split(cfg, nb)
        sd = {}
        parts = [(f"means.{j}", f"mean.{s}", net.means[j]) for j, s in enumerate(("xi", "omega", "eta"))]
        for name, prefix, mlp in parts + [("variances", "variance", net.variances)]:
            for i in range(len(mlp.hidden)):
                for a in ("weight", "bias"):
                    sd[f"{name}.hidden.{i}.{a}"] = t[f"{prefix}.hidden.{i}.{a}"]
            for a in ("weight", "bias"):
                sd[f"{name}.out.{a}"] = t[f"{prefix}.out.{a}"]
        net.load_state_dict(sd, strict=True)
        net.eval()
        net.dropout_on = True
        return meta, net.to(device)
    net = Net(cfg, nb)
    sd = {}
    for i in range(len(cfg["encoder"])):
        for a, b in (("linear.weight", f"enc.{i}.weight"), ("linear.bias", f"enc.{i}.bias"),
                     ("bn.weight", f"enc_bn.{i}.weight"), ("bn.bias", f"enc_bn.{i}.bias"),
                     ("bn.running_mean", f"enc_bn.{i}.running_mean"), ("bn.running_var", f"enc_bn.{i}.running_var")):
            sd[b] = t[f"encoder.{i}.{a}"]
    for j, s in enumerate(("xi", "omega", "eta")):
        for a in ("weight", "bias"):
            sd[f"heads.{j}.bottleneck.{a}"] = t[f"head.{s}.bottleneck.{a}"]
            sd[f"heads.{j}.last.{a}"] = t[f"head.{s}.last.{a}"]
        for c in range(len(cfg["conv"])):
            for a in ("weight", "bias"):
                sd[f"heads.{j}.convs.{c}.{a}"] = t[f"head.{s}.conv.{c}.conv.{a}"]
                sd[f"heads.{j}.bns.{c}.{a}"] = t[f"head.{s}.conv.{c}.bn.{a}"]
            for a in ("running_mean", "running_var"):
                sd[f"heads.{j}.bns.{c}.{a}"] = t[f"head.{s}.conv.{c}.bn.{a}"]
    missing = net.load_state_dict(sd, strict=False)
    assert not [k for k in missing.missing_keys if "num_batches" not in k], missing
    net.eval()
    net.dropout_on = True
    return meta, net.to(device)


def predict(meta, net, x, passes, batched, device):
    """Physical means, aleatoric and epistemic variances (log-xi and scaling as iaemu)."""
    norm = meta["normalization"]
    nb = len(meta["r_edges"]) - 1
    xm = torch.tensor(norm["x_mean"], dtype=torch.float32, device=device)
    xs = torch.tensor(norm["x_std"], dtype=torch.float32, device=device)
    ym = torch.tensor(norm["y_mean"], dtype=torch.float32, device=device).view(1, 3, nb)
    ys = torch.tensor(norm["y_std"], dtype=torch.float32, device=device).view(1, 3, nb)
    z = (x - xm) / xs

    def phys(m, v):
        y, vy = m * ys + ym, v * ys * ys
        if norm["log_xi"]:
            xi = torch.exp(y[:, 0])
            y = torch.cat([xi[:, None], y[:, 1:]], 1)
            vy = torch.cat([(vy[:, 0] * xi * xi)[:, None], vy[:, 1:]], 1)
        return y, vy

    with torch.no_grad():
        if batched:
            outs = []
            for c in torch.split(z, max(1, 8192 // passes)):
                m, v = phys(*net(c.repeat_interleave(passes, 0)))
                m, v = m.view(-1, passes, 3, nb).double(), v.view(-1, passes, 3, nb).double()
                outs.append((m.mean(1), v.mean(1), m.var(1, unbiased=False)))
            return [torch.cat(o) for o in zip(*outs)]
        ms, vs = zip(*(phys(*net(z)) for _ in range(passes)))
        m, v = torch.stack(ms, 1).double(), torch.stack(vs, 1).double()
        return m.mean(1), v.mean(1), m.var(1, unbiased=False)


def check(path):
    meta, net = load(path, "cpu")
    net.dropout_on = False
    x = torch.tensor(json.load(sys.stdin), dtype=torch.float32)
    m, v, _ = predict(meta, net, x, 1, False, "cpu")
    print(json.dumps({"mean": m.tolist(), "aleatoric_var": v.tolist()}))


def main():
    if sys.argv[2] == "check":
        return check(sys.argv[1])
    path, threads = sys.argv[1], int(sys.argv[2])
    device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    meta, net = load(path, device)
    lo, hi = np.array(meta["domain_min"]), np.array(meta["domain_max"])
    rng = np.random.default_rng(1)
    x = torch.tensor(lo + (hi - lo) * rng.random((32768, 7)), dtype=torch.float32, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    result = {"impl": "pytorch-eager", "torch": torch.__version__, "device": device, "threads": threads,
              "batch_points": 32768, "mc_passes": 20}
    for batched in (True, False):
        predict(meta, net, x[:1024], 20, batched, device)
        t = time.perf_counter()
        predict(meta, net, x, 20, batched, device)
        sync()
        result["batch_s_" + ("batched" if batched else "loop")] = time.perf_counter() - t
    lat = []
    for _ in range(300):
        t = time.perf_counter()
        predict(meta, net, x[:1], 20, True, device)
        sync()
        lat.append(time.perf_counter() - t)
    lat.sort()
    result["one_point_ms_median"] = 1e3 * lat[len(lat) // 2]
    result["one_point_ms_p90"] = 1e3 * lat[len(lat) * 9 // 10]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
