#!/usr/bin/env python3
"""Times PyTorch's cuDNN RNN on a GPU for the shapes a-e of `cudnnrnn bench` (libtorch-bench's shapes), so that
`cudnnrnn bench --engine cuda` can be compared with it side by side in one run. Not part of the build or the tests:
it needs a machine with an NVIDIA GPU and PyTorch, e.g.

    python3 bench/gpu/torch_cudnn_bench.py --json torch-cuda.json
    cudnnrnn bench --engine cuda --json ours-cuda.json

Phases as in `cudnnrnn bench`: forward_inference (no autograd) and forward_backward (forward, then the gradients of
x, h0, c0 and every weight for a random dy). Float32, all sequences full length (dense), median of timed reps, each rep
ended by torch.cuda.synchronize()."""
import argparse, json, statistics, time

import torch

SHAPES = [  # id, mode, input, hidden, layers, bidirectional, batch, T  (src/CudnnRnn.Cli/Bench/BenchShape.cs)
    ("a", "lstm", 128, 128, 1, False, 32, 50),
    ("b", "lstm", 256, 256, 2, True, 16, 100),
    ("c", "gru", 128, 256, 1, True, 64, 35),
    ("d", "lstm", 100, 128, 1, True, 32, 40),
    ("e", "lstm", 512, 512, 1, False, 64, 50),
]


def flops(mode, inp, hid, layers, bi, batch, t):
    gates = 4 if mode == "lstm" else 3
    dirs = 2 if bi else 1
    return sum(dirs * batch * t * 2.0 * gates * hid * ((inp if l == 0 else dirs * hid) + hid) for l in range(layers))


def measure(fn, warmup_s, reps):
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per phase")
    ap.add_argument("--no-tf32", action="store_true",
                    help="exact float32 math (CUDNN_FMA_MATH, as CudnnRnn's cuda engine uses); PyTorch's default allows TF32")
    args = ap.parse_args()
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = not args.no_tf32
    dev = torch.device("cuda")
    results = []
    for sid, mode, inp, hid, layers, bi, batch, t in SHAPES:
        cls = torch.nn.LSTM if mode == "lstm" else torch.nn.GRU
        m = cls(inp, hid, layers, bidirectional=bi).to(dev)
        dirs = 2 if bi else 1
        x = torch.randn(t, batch, inp, device=dev, requires_grad=True)
        h0 = torch.randn(layers * dirs, batch, hid, device=dev, requires_grad=True)
        c0 = torch.randn(layers * dirs, batch, hid, device=dev, requires_grad=True)
        dy = torch.randn(t, batch, dirs * hid, device=dev)
        state = (h0, c0) if mode == "lstm" else h0

        def inference():
            with torch.no_grad():
                m(x, state)

        def training():
            y, _ = m(x, state)
            y.backward(dy)

        f = flops(mode, inp, hid, layers, bi, batch, t)
        for phase, fn, mult in (("forward_inference", inference, 1), ("forward_backward", training, 3)):
            med, mn = measure(fn, args.warmup, args.reps)
            r = {"shape": sid, "phase": phase, "lengths": "full", "medianMs": med, "minMs": mn, "reps": args.reps,
                 "gflops": mult * f / (med * 1e6)}
            results.append(r)
            print(f"torch cuDNN {sid} {phase:17s} median {med:8.3f} ms  min {mn:8.3f} ms  {r['gflops']:8.1f} GF/s", flush=True)
    meta = {"tf32": not args.no_tf32, "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name()}
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
