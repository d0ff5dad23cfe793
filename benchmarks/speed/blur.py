"""Forward + VJP throughput of ImageBlur2D (exact operator VJP) vs plain autograd through the
same formula, side by side in one run.

    python -m benchmarks.speed.blur [--size 128] [--batch 32] [--repeats 20]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks._timing import interleaved_times, print_table
from forward_models.blur import ImageBlur2D


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for boundary in ("zero", "periodic"):
        for dtype in (torch.float32, torch.float64):
            op = ImageBlur2D((args.size, args.size), a=0.5, blur_width=2.0, boundary=boundary)
            x = torch.rand(args.batch, args.size, args.size, dtype=dtype, device=device)
            w = torch.randn_like(x)

            def ours(op=op, x=x, w=w):
                xg = x.clone().requires_grad_(True)
                (op(xg) * w).sum().backward()
                return xg.grad

            def autograd_formula(op=op, x=x, w=w):
                xg = x.clone().requires_grad_(True)
                z = op._apply_linear(xg)  # the same FFT formula, differentiated by autograd
                ((z + op.a * z * z) * w).sum().backward()
                return xg.grad

            torch.testing.assert_close(ours(), autograd_formula(), rtol=1e-4, atol=1e-4)
            t_ours, t_auto = interleaved_times([ours, autograd_formula], args.repeats)
            rows.append([boundary, str(dtype).replace("torch.", ""), args.batch / t_ours,
                         args.batch / t_auto, t_auto / t_ours])
    print(f"ImageBlur2D forward+VJP, {args.size}x{args.size}, batch {args.batch}, {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print_table(["boundary", "dtype", "ours (img/s)", "autograd (img/s)", "speed-up"], rows)


if __name__ == "__main__":
    main()
