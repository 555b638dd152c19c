#!/usr/bin/env python3
"""The light generator (lib/nn/generator.ts) written again in PyTorch, for the GPU benchmark.

bench/gpu.mjs runs it on the accelerator machine (PyTorch is installed there, Node is carried in):
  parity: python3 bench/torch_generator.py --card models/comic-light.json --parity IN.bin OUT.bin --size S
          reads float32 [1,3,S,S] from IN.bin, writes the generator's output to OUT.bin, so the caller can
          check that this model and the native one compute the same function before comparing speed.
  bench:  python3 bench/torch_generator.py --card models/comic-light.json --bench --device cuda
          prints one JSON object: median ms of inference (batch 1 and 16 at 256 and 512) and of one training
          step (batch 16 at 256: forward, L1 loss, backward, AdamW, weight EMA: what the native step graph
          of bench/gpu.mjs does).
Layer for layer the same as buildGenerator() in lib/nn/generator.ts; a config key this file does not know is
refused, so a change there cannot silently benchmark a different network.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def key(name):
    """ModuleDict keys may not contain '.': res0.conv0 -> res0__conv0 (lib/nn's names come back with name())."""
    return name.replace(".", "__")


def name_of(k):
    return k.replace("__", ".")


KNOWN_KEYS = {"arch", "channels", "width", "resBlocks", "alpha", "upsample", "pad", "norm"}


def read_safetensors(path):
    """The F32 tensors of a safetensors file (the format is an 8-byte header length, JSON, raw data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {spec['dtype']}, expected F32")
        a, b = spec["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(blob[a:b], dtype="<f4").copy().reshape(spec["shape"]))
    return out


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        unknown = set(config) - KNOWN_KEYS
        if unknown or config.get("arch") != "light-unet":
            raise ValueError(f"generator config not mirrored here: arch={config.get('arch')}, unknown keys {sorted(unknown)}")
        ch = [max(4, round(c * config.get("width", 1))) for c in config["channels"]]
        self.ch, self.alpha = ch, config["alpha"]
        self.reflect = config.get("pad", "zeros") == "reflect"
        self.instance = config.get("norm", "none") == "instance"
        self.deconv = config.get("upsample", "bilinear") == "deconv"
        self.res_blocks = config["resBlocks"]
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        self.ups = nn.ModuleDict()

        def conv(name, cin, cout, stride=1):
            self.convs[key(name)] = nn.Conv2d(cin, cout, 3, stride, padding=0 if self.reflect else 1)
            if self.instance and name != "out":
                # ONNX InstanceNormalization: affine, no running statistics, epsilon 1e-5.
                self.norms[key(name)] = nn.InstanceNorm2d(cout, eps=1e-5, affine=True)

        conv("enc0", 3, ch[0])
        conv("enc1", ch[0], ch[1], 2)
        conv("enc2", ch[1], ch[2], 2)
        conv("enc3", ch[2], ch[3], 2)
        for i in range(self.res_blocks):
            conv(f"res{i}.conv0", ch[3], ch[3])
            conv(f"res{i}.conv1", ch[3], ch[3])
        conv("dec2", ch[3], ch[2])
        conv("dec1", ch[2], ch[1])
        conv("dec0", ch[1], ch[0])
        conv("head0", ch[0], ch[0])
        conv("out", ch[0], 3)
        if self.deconv:
            for name, c in (("dec2.up", ch[2]), ("dec1.up", ch[1]), ("dec0.up", ch[0])):
                self.ups[key(name)] = nn.ConvTranspose2d(c, c, 2, 2, bias=False)

    def load_facestyle(self, tensors):
        """Copies weights named as lib/nn names them (g.enc0.weight, g.enc0.norm.scale, g.dec0.up.weight)."""
        used = set()

        def take(name):
            used.add(name)
            if name not in tensors:
                raise KeyError(f"weight {name} missing from the safetensors file")
            return tensors[name]

        with torch.no_grad():
            for k, c in self.convs.items():
                c.weight.copy_(take(f"g.{name_of(k)}.weight"))
                c.bias.copy_(take(f"g.{name_of(k)}.bias"))
            for k, n in self.norms.items():
                n.weight.copy_(take(f"g.{name_of(k)}.norm.scale"))
                n.bias.copy_(take(f"g.{name_of(k)}.norm.bias"))
            for k, u in self.ups.items():
                u.weight.copy_(take(f"g.{name_of(k)}.weight"))
        left = sorted(k for k in tensors if k.startswith("g.") and k not in used)
        if left:
            raise KeyError(f"weights this mirror does not use: {left}")

    def _conv(self, x, name):
        if self.reflect:
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        y = self.convs[key(name)](x)
        return self.norms[key(name)](y) if key(name) in self.norms else y

    def _act(self, x):
        return F.leaky_relu(x, self.alpha)

    def _up(self, x, name):
        if self.deconv:
            return self.ups[key(name)](x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # ONNX half_pixel

    def forward(self, x):
        e0 = self._act(self._conv(x, "enc0"))
        e1 = self._act(self._conv(e0, "enc1"))
        e2 = self._act(self._conv(e1, "enc2"))
        r = self._act(self._conv(e2, "enc3"))
        for i in range(self.res_blocks):
            t = self._act(self._conv(r, f"res{i}.conv0"))
            r = r + self._conv(t, f"res{i}.conv1")
        d2 = self._up(self._act(self._conv(r, "dec2")), "dec2.up") + e2
        d1 = self._up(self._act(self._conv(d2, "dec1")), "dec1.up") + e1
        d0 = self._up(self._act(self._conv(d1, "dec0")), "dec0.up") + e0
        f = self._act(self._conv(d0, "head0"))
        return torch.tanh(self._conv(f, "out"))


def load(card_path, device):
    with open(card_path) as f:
        card = json.load(f)
    model = Generator(card["generator"])
    weights = card_path.rsplit("/", 1)[0] + "/" + card["weights"] if "/" in card_path else card["weights"]
    model.load_facestyle(read_safetensors(weights))
    return model.to(device)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_ms(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def bench(model, device, iters, train_cfg, sizes=(256, 512), batches=(1, 16)):
    rows = []
    model.eval()
    with torch.no_grad():
        for size in sizes:
            for batch in batches:
                x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
                ms = median_ms(lambda: model(x), device, 3, iters)
                rows.append({"kind": "inference", "batch": batch, "size": size, "torchMs": ms})
    # One training step as the native step graph does it: L1, backward, AdamW with bias correction, EMA.
    model.train()
    batch, size = train_cfg["batch"], train_cfg["size"]
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    t = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg["lr"], betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    ema = [p.detach().clone() for p in model.parameters()]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.l1_loss(model(x), t)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.995)
            torch._foreach_add_(ema, [p.detach() for p in model.parameters()], alpha=0.005)

    ms = median_ms(step, device, 3, iters)
    rows.append({"kind": "train-step", "batch": batch, "size": size, "torchMs": ms})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--card", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--parity", nargs=2, metavar=("IN", "OUT"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--train-batch", type=int, default=16)
    ap.add_argument("--train-size", type=int, default=256)
    ap.add_argument("--sizes", default="256,512", help="inference sizes, comma-separated")
    ap.add_argument("--batches", default="1,16", help="inference batch sizes, comma-separated")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    model = load(args.card, args.device)
    if args.parity:
        x = np.fromfile(args.parity[0], dtype="<f4").reshape(1, 3, args.size, args.size)
        with torch.no_grad():
            y = model.eval()(torch.from_numpy(x).to(args.device)).cpu().numpy().astype("<f4")
        y.tofile(args.parity[1])
    if args.bench:
        info = {"torch": torch.__version__, "device": args.device}
        if args.device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(0)
            # PyTorch's default fp32 conv on Ampere+ may use TF32 through cuDNN: report the setting.
            info["cudnnAllowTf32"] = torch.backends.cudnn.allow_tf32
        info["rows"] = bench(model, args.device, args.iters, {"batch": args.train_batch, "size": args.train_size, "lr": 1e-3},
                             [int(v) for v in args.sizes.split(",")], [int(v) for v in args.batches.split(",")])
        json.dump(info, sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
