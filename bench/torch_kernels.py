"""
PyTorch on the kernel benchmarks of `npm run bench` (matmul, attention forward, attention forward +
backward), the same workloads and inputs as bench/kernels.ts (qkv), bench/peers/onnx_kernels.mjs and
bench/peers/tfjs_kernels.mjs. bench/peers/common.mjs defines what they share; this file repeats it in
Python.

Usage (from the repository root; the wrapper loads OpenBLAS's OpenMP build):
    ../shared/bin/torch-python bench/torch_kernels.py matmul N [options]
    ../shared/bin/torch-python bench/torch_kernels.py attention fwd|fwdbwd N [options]
options: --causal 0|1 --heads 12 --head-dim 64 --threads T --warmup 1 --repeats 5 --max-seconds 20
         --out FILE (the result, float32 little-endian: C; or out; or out, dq, dk, dv)
         --max-memory-fraction 0.8 (skip a composed attention whose N x N matrices would not fit)
Prints one JSON line.

Attention is what PyTorch 1.13 users run: 1.13 has no F.scaled_dot_product_attention (it came in 2.0),
so attention is composed from ops, as nanoGPT's non-flash path and nn.MultiheadAttention do:

    out = softmax((q @ k.transpose(-2, -1)) * scale [+ mask]) @ v

with the causal mask an [N, N] float tensor (0 on and below the diagonal, -inf above) made once, as a
model's buffer, outside the timing. Forward runs under torch.no_grad(); forward + backward backpropagates
sum(out * g) through autograd. Every N x N intermediate is materialized, so memory grows as N^2.

Inputs: element i of the input with seed s is murmur3's 32-bit finalizer of (i + s * 0x9E3779B9) mod 2^32,
its top 24 bits mapped to [-1, 1) (exact in float32); seeds A 1, B 2, q 11, k 12, v 13, g 14. inputCrc is
the CRC-32 of the inputs' bytes in that order, for the driver to check that every peer had the same ones.

FLOPs (useful work, as FlashAttention's benchmarks): matmul 2 N^3; attention forward 4 heads N^2 headDim,
halved when causal; forward + backward 3.5x the forward.
Memory: peakRssMiB is ru_maxrss of this process (one process per measurement), baseRssMiB the resident
memory just before the first run (Python, torch and the inputs).
"""
import argparse
import gc
import json
import os
import re
import resource
import statistics
import sys
import time
import zlib

import numpy as np
import torch

SEEDS = {"a": 1, "b": 2, "q": 11, "k": 12, "v": 13, "g": 14}
MiB = 2 ** 20


def bench_input(seed, n):
    """n float32 values in [-1, 1): the same bits as input() in bench/peers/common.mjs."""
    x = ((np.arange(n, dtype=np.uint64) + np.uint64((seed * 0x9E3779B9) & 0xFFFFFFFF)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)  # uint32 arithmetic wraps modulo 2^32, as Math.imul
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return ((x >> np.uint32(8)).astype(np.float64) / 8388608.0 - 1.0).astype(np.float32)


def inputs_crc(arrays):
    c = 0
    for a in arrays:
        c = zlib.crc32(np.ascontiguousarray(a).view(np.uint8), c)
    return c & 0xFFFFFFFF


def flops(w):
    if w.op == "matmul":
        return 2 * w.n ** 3
    fwd = 4 * w.heads * w.n * w.n * w.head_dim / (2 if w.causal else 1)
    return fwd if w.op == "attention-fwd" else 3.5 * fwd


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MiB


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MiB  # ru_maxrss is in KiB on Linux


def mem_available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def blas_info():
    """What BLAS torch was built for (torch.__config__.show()) and which one is loaded now."""
    built = None
    try:
        found = re.findall(r"\b((?:BLAS|LAPACK)_INFO=[^,\s]*)", torch.__config__.show())
        built = ", ".join(found) if found else None
    except Exception:  # informational only
        pass
    loaded = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                name = os.path.basename(parts[-1]) if len(parts) >= 6 else ""
                if ("blas" in name or "mkl" in name) and name not in loaded:
                    loaded.append(name)
    except OSError:
        pass
    return built, loaded


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["matmul", "attention"])
    p.add_argument("rest", nargs="+")
    p.add_argument("--causal", default="0")
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=20.0)
    p.add_argument("--out", default=None)
    p.add_argument("--max-memory-fraction", type=float, default=0.8)
    w = p.parse_args()
    w.causal = w.causal in ("1", "true")
    if w.what == "matmul":
        if len(w.rest) != 1:
            p.error("matmul N")
        w.op, w.n = "matmul", int(w.rest[0])
    else:
        if len(w.rest) != 2 or w.rest[0] not in ("fwd", "fwdbwd"):
            p.error("attention fwd|fwdbwd N")
        w.op, w.n = "attention-" + w.rest[0], int(w.rest[1])
    return w


def time_runs(run, w):
    """warmup untimed runs, then up to `repeats` timed ones, stopping once they took max_seconds (after one)."""
    last = None
    for _ in range(w.warmup):
        last = run()
    ms, total = [], 0.0
    for r in range(w.repeats):
        if r > 0 and total > w.max_seconds * 1000:
            break
        last = None
        gc.collect()
        t0 = time.perf_counter()
        last = run()
        t = (time.perf_counter() - t0) * 1000
        ms.append(t)
        total += t
    return statistics.median(ms), [round(t, 3) for t in ms], last


def main():
    w = parse()
    torch.set_num_threads(w.threads)
    blas, blas_loaded = blas_info()
    common = {"workload": "kernel", "peer": "torch", "op": w.op, "n": w.n, "threads": w.threads}
    if w.op != "matmul":
        common.update({"heads": w.heads, "headDim": w.head_dim, "causal": w.causal})
    info = {"version": torch.__version__, "blas": blas, "blasLoaded": blas_loaded, "numThreads": torch.get_num_threads(),
            "attention": "composed: softmax((q @ k^T) * scale + mask) @ v (torch 1.13 has no scaled_dot_product_attention)"}

    if w.op == "matmul":
        a_np, b_np = bench_input(SEEDS["a"], w.n * w.n), bench_input(SEEDS["b"], w.n * w.n)
        arrays = [a_np, b_np]
        a, b = torch.from_numpy(a_np).view(w.n, w.n), torch.from_numpy(b_np).view(w.n, w.n)

        def run():
            with torch.no_grad():
                return [a @ b]
    else:
        n, h, d = w.n, w.heads, w.head_dim
        # Composed attention keeps N x N float32 matrices: forward about 3 at once, forward + backward about 5
        # (scores, the saved softmax, their gradients), per head, plus the [N, N] mask.
        matrices = (3 if w.op == "attention-fwd" else 5) * h + (1 if w.causal else 0)
        need = matrices * n * n * 4
        avail = mem_available_bytes()
        if avail is not None and need > w.max_memory_fraction * avail:
            print(json.dumps({**common, "skipped": f"does not fit: composed attention needs about {need / 2**30:.0f} GiB "
                              f"({matrices} N x N float32 matrices), {avail / 2**30:.1f} GiB available", "needBytes": need,
                              "availableBytes": avail, "info": info}))
            return
        shape = (1, h, n, d)
        names = ["q", "k", "v"] + (["g"] if w.op == "attention-fwdbwd" else [])
        arrays = [bench_input(SEEDS[x], h * n * d) for x in names]
        q, k, v = (torch.from_numpy(x).view(shape) for x in arrays[:3])
        scale = 1.0 / (d ** 0.5)
        mask = torch.triu(torch.full((n, n), float("-inf")), diagonal=1) if w.causal else None

        def attend(q, k, v):
            att = (q @ k.transpose(-2, -1)) * scale
            if mask is not None:
                att = att + mask
            att = torch.softmax(att, dim=-1)
            return att @ v

        if w.op == "attention-fwd":
            def run():
                with torch.no_grad():
                    return [attend(q, k, v)]
        else:
            g = torch.from_numpy(arrays[3]).view(shape)
            for t in (q, k, v):
                t.requires_grad_(True)

            def run():
                for t in (q, k, v):
                    t.grad = None
                out = attend(q, k, v)
                (out * g).sum().backward()
                return [out.detach(), q.grad, k.grad, v.grad]

    base = rss_mib()
    ms, runs, last = time_runs(run, w)
    peak = peak_rss_mib()
    if w.out:
        with open(w.out, "wb") as f:
            for t in last:
                f.write(t.detach().contiguous().numpy().astype("<f4", copy=False).tobytes())
    f = flops(w)
    print(json.dumps({**common, "msMedian": ms, "msRuns": runs, "warmup": w.warmup, "flops": f, "gflops": f / (ms / 1000) / 1e9,
                      "threadsUsed": torch.get_num_threads(), "peakRssMiB": peak, "baseRssMiB": base,
                      "inputCrc": inputs_crc(arrays), "outFile": w.out, "info": info}))


if __name__ == "__main__":
    sys.exit(main())
