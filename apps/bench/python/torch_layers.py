#!/usr/bin/env python3
"""PyTorch side of the bench app's gpu-layers suite: times the reference implementations on this machine.

Reads one JSON request on stdin:
  {"shapes": [{"name", "m", "n", "blocks", "blastRank", "lowRankRank"}], "tokens": [1, 16, …],
   "dtypes": ["float32", "float16"], "minSeconds": 0.2}
and prints one JSON object on stdout: {"torch", "device", "timing", "results": [{"layer", "m", "n", "tokens",
"dtype", "seconds": {"dense", "lowRank", "blastReference"}}]}.

- dense: torch.nn.functional.linear(x, W), W [m, n].
- lowRank: F.linear(F.linear(x, Vᵀ), U), U [m, r], V [n, r].
- blastReference: the BLAST reference model code's forward path (method.md §1), B (b, p, r), C (b, r, q),
  D (b, b, r): z = bmm(x_blocks, Cᵀ); w = (z[None] * D[:, :, None]).sum(1), which materialises the
  b×b×N×r tensor; y = bmm(w, Bᵀ), then the blocks are put back in order.

Timing: CUDA events around R back-to-back calls after a warm-up (CPU: perf_counter), R grown until a round
lasts minSeconds, median of 5 rounds, seconds per call. TF32 is off so float32 means float32.
The caller (apps/bench/src/suites/gpu-layers.ts) runs this only where Python with torch exists.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def blast_reference(x, B, C, D):
    b, p, r = B.shape
    q = C.shape[2]
    N = x.shape[0]
    xb = x.view(N, b, q).transpose(0, 1)  # (b, N, q)
    z = torch.bmm(xb, C.transpose(1, 2))  # (b, N, r)
    w = (z.unsqueeze(0) * D.unsqueeze(2)).sum(1)  # (b, b, N, r) summed over j -> (b, N, r)
    y = torch.bmm(w, B.transpose(1, 2))  # (b, N, p)
    return y.transpose(0, 1).reshape(N, b * p)


def timer(device):
    if device.type == "cuda":
        def run(fn, reps):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000.0
    else:
        def run(fn, reps):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            return time.perf_counter() - t0
    return run


def seconds_per_call(fn, device, min_seconds):
    run = timer(device)
    fn()  # warm-up: kernels chosen, memory pooled
    if device.type == "cuda":
        torch.cuda.synchronize()
    reps = 1
    while True:
        t = run(fn, reps)
        if t >= min_seconds or reps >= 1 << 16:
            break
        reps = min(1 << 16, max(reps * 2, int(reps * min_seconds / max(t, 1e-9)) + 1))
    rounds = [run(fn, reps) / reps for _ in range(5)]
    return statistics.median(rounds)


def main():
    request = json.load(sys.stdin)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    results = []
    for dtype_name in request["dtypes"]:
        dtype = getattr(torch, dtype_name)
        if device.type == "cpu" and dtype == torch.float16:
            continue  # half-precision GEMMs on a CPU say nothing about the reference's GPU path
        for s in request["shapes"]:
            m, n, b, r, rl = s["m"], s["n"], s["blocks"], s["blastRank"], s["lowRankRank"]
            mk = lambda *shape, scale=1.0: (torch.randn(*shape, device=device) * scale).to(dtype)
            W = mk(m, n, scale=n ** -0.5)
            U, V = mk(m, rl, scale=rl ** -0.5), mk(n, rl, scale=n ** -0.5)
            B, C, D = mk(b, m // b, r, scale=r ** -0.5), mk(b, r, n // b, scale=(n // b) ** -0.5), mk(b, b, r)
            for N in request["tokens"]:
                x = mk(N, n)
                with torch.inference_mode():
                    seconds = {
                        "dense": seconds_per_call(lambda: F.linear(x, W), device, request["minSeconds"]),
                        "lowRank": seconds_per_call(
                            lambda: F.linear(F.linear(x, V.t()), U), device, request["minSeconds"]
                        ),
                        "blastReference": seconds_per_call(
                            lambda: blast_reference(x, B, C, D), device, request["minSeconds"]
                        ),
                    }
                results.append(
                    {"layer": s["name"], "m": m, "n": n, "tokens": N, "dtype": dtype_name, "seconds": seconds}
                )
                print(f"torch {device.type} {dtype_name} {s['name']} N={N}: {seconds}", file=sys.stderr)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    json.dump(
        {
            "torch": torch.__version__,
            "device": f"{device.type}: {name}",
            "timing": "median of 5 rounds of back-to-back calls (CUDA events on a GPU), seconds per call, TF32 off",
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
