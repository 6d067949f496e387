#!/usr/bin/env python3
"""Times PyTorch's cuDNN RNN on a GPU for the shapes a-e of `cudnnrnn bench` (libtorch-bench's shapes), so that
`cudnnrnn bench --engine cuda` can be compared with it side by side in one run. Not part of the build or the tests:
it needs a machine with an NVIDIA GPU and PyTorch, e.g.

    python3 bench/gpu/torch_cudnn_bench.py --json torch-cuda.json
    cudnnrnn bench --engine cuda --json ours-cuda.json
    python3 bench/gpu/torch_cudnn_bench.py --dtype float16 --json torch-cuda-f16.json
    cudnnrnn bench --engine cuda --dtype float16 --json ours-cuda-f16.json

Phases as in `cudnnrnn bench`: forward_inference (no autograd) and forward_backward (forward, then the gradients of
x, h0, c0 and every weight for a random dy). All sequences full length (dense), median of timed reps, each rep ended by
torch.cuda.synchronize(). Shape d is the tagger-like shape of `cudnnrnn bench` (BenchShape.cs).

--dtype float16|bfloat16 times two variants per shape: "half" (module, inputs and states in the 16-bit type: what
`cudnnrnn bench --dtype` runs: 16-bit storage, float math precision in cuDNN) and "autocast" (float32 module under
torch.autocast, which casts the flat weights to 16 bits on every call, as mixed-precision training does). --dry-run
prints the runs without importing torch (for checking the script on a machine without a GPU)."""
import argparse, json, statistics, sys, time

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


DTYPES = ("float32", "float16", "bfloat16")


def variants(dtype):
    """The timed variants for a --dtype: float32 runs plain; the 16-bit types run 'half' and 'autocast'."""
    return ["float32"] if dtype == "float32" else ["half", "autocast"]


def plan(dtype):
    """Every (shape, variant, phase) the script times, in order."""
    return [(s[0], v, p) for s in SHAPES for v in variants(dtype) for p in ("forward_inference", "forward_backward")]


def measure(fn, warmup_s, reps):
    import torch

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


def parse(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch cuDNN RNN timings for the shapes of `cudnnrnn bench`.")
    ap.add_argument("--json")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per phase")
    ap.add_argument("--dtype", choices=DTYPES, default="float32",
                    help="float32, or a 16-bit type timed as a half module and under torch.autocast")
    ap.add_argument("--no-tf32", action="store_true",
                    help="exact float32 math (CUDNN_FMA_MATH, as CudnnRnn's cuda engine uses); PyTorch's default allows TF32")
    ap.add_argument("--dry-run", action="store_true", help="print what would be timed and exit (no torch import)")
    args = ap.parse_args(argv)
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    if args.warmup < 0:
        ap.error("--warmup must not be negative")
    return args


def main(argv=None):
    args = parse(argv)
    if args.dry_run:
        for sid, variant, phase in plan(args.dtype):
            print(f"would time {sid} {args.dtype} {variant} {phase}")
        return 0
    try:
        import torch
    except ImportError:
        print("torch_cudnn_bench: PyTorch is not installed (pip install torch); nothing timed", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("torch_cudnn_bench: no CUDA device visible to PyTorch", file=sys.stderr)
        return 3
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = not args.no_tf32
    dev = torch.device("cuda")
    low = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(args.dtype)
    results = []
    for sid, mode, inp, hid, layers, bi, batch, t in SHAPES:
        cls = torch.nn.LSTM if mode == "lstm" else torch.nn.GRU
        dirs = 2 if bi else 1
        for variant in variants(args.dtype):
            storage = low if variant == "half" else torch.float32
            m = cls(inp, hid, layers, bidirectional=bi).to(device=dev, dtype=storage)
            x = torch.randn(t, batch, inp, device=dev, dtype=storage, requires_grad=True)
            h0 = torch.randn(layers * dirs, batch, hid, device=dev, dtype=storage, requires_grad=True)
            c0 = torch.randn(layers * dirs, batch, hid, device=dev, dtype=storage, requires_grad=True)
            dy = torch.randn(t, batch, dirs * hid, device=dev, dtype=low if low is not None else torch.float32)
            state = (h0, c0) if mode == "lstm" else h0

            def run():
                if variant == "autocast":
                    with torch.autocast("cuda", dtype=low):
                        return m(x, state)
                return m(x, state)

            def inference():
                with torch.no_grad():
                    run()

            def training():
                y, _ = run()
                y.backward(dy.to(y.dtype))

            f = flops(mode, inp, hid, layers, bi, batch, t)
            for phase, fn, mult in (("forward_inference", inference, 1), ("forward_backward", training, 3)):
                med, mn = measure(fn, args.warmup, args.reps)
                r = {"shape": sid, "phase": phase, "lengths": "full", "dtype": args.dtype, "variant": variant,
                     "medianMs": med, "minMs": mn, "reps": args.reps, "gflops": mult * f / (med * 1e6)}
                results.append(r)
                print(f"torch cuDNN {sid} {args.dtype:8s} {variant:8s} {phase:17s} median {med:8.3f} ms  min {mn:8.3f} ms  "
                      f"{r['gflops']:8.1f} GF/s", flush=True)
    meta = {"tf32": not args.no_tf32, "dtype": args.dtype, "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
            "device": torch.cuda.get_device_name()}
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
