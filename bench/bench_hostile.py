"""What a hostile server costs `pkgharvest fetch`: peak RSS and wall time per attack.

    python -m bench.bench_hostile                 # 300 packages; bomb 1 GiB; drip 1 byte / 2 s
    python -m bench.bench_hostile --bomb-mib 256 --src /path/to/another/src

The fake API (tests/fakeapi.py) serves a healthy catalogue, except that the package list
answers with an attack on every request: a gzip body that inflates to --bomb-mib MiB, a chunked
body that never ends, or a body that drips one byte every --drip-interval seconds. Each fetch
runs as a child process measured with os.wait4 (its peak RSS alone). Memory attacks run with
two attempts and no backoff sleeps (they measure memory, not patience); the drip runs the real
command line with `--timeout`, to show the run's deadline. A child still running after
--kill-after seconds is killed and reported with its peak so far (VmHWM): that is what the code
before the limits did against the endless body and the drip. `--src` runs another checkout's
code (PYTHONPATH), to compare before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fakeapi import FakeApi, Faults, generate_catalogue, gzip_bomb  # noqa: E402
from tests.fakeproc import harvester_argv, quick_retry_argv, run_measured  # noqa: E402

PACKAGE_LIST = r"^/api/v4/packages/\?"
MIB = 1024 * 1024


def measure(argv: list[str], env: dict[str, str], kill_after: float) -> dict[str, Any]:
    """Run `argv`; its exit code (None if killed), wall time, peak RSS and stderr's first line."""
    measured = run_measured(argv, env=env, kill_after=kill_after)
    lines = measured.stderr.strip().splitlines()
    return {
        "exit": measured.exit_code,
        "seconds": round(measured.seconds, 2),
        "rss_mib": round(measured.peak_rss / MIB),
        "stderr": (
            f"still running after {kill_after:g} s: killed"
            if measured.exit_code is None
            else (lines[0][:160] if lines else "")
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_hostile")
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--bomb-mib", type=int, default=1024)
    parser.add_argument("--drip-interval", type=float, default=2.0)
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="the drip run's --timeout (0: not passed)"
    )
    parser.add_argument("--kill-after", type=float, default=60.0)
    parser.add_argument("--src", type=Path, default=REPO / "src")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "hostile.json")
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONPATH": str(args.src)}
    catalogue = generate_catalogue(args.packages, max(1, args.packages // 15), seed=4)
    results: dict[str, Any] = {"load": os.getloadavg(), "src": str(args.src)}
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as scratch:
        for attack in ("healthy", "gzip-bomb", "endless", "drip"):
            faults = Faults(
                bomb_bytes=args.bomb_mib * MIB,
                drip_interval=args.drip_interval,
                drip_for=args.kill_after + 5,
            )
            if attack != "healthy":
                faults.script(PACKAGE_LIST, attack, times=None)
            if attack == "gzip-bomb":
                gzip_bomb(faults.bomb_bytes)  # made before the clock starts
            api = FakeApi(catalogue, faults=faults)
            with api.serve() as base_url:
                root = Path(scratch) / attack
                if attack == "drip":
                    timeout = ["--timeout", str(args.timeout)] if args.timeout else []
                    child = harvester_argv(base_url, root, *timeout)
                else:
                    child = quick_retry_argv(base_url, root)
                results[attack] = measure(child, env, args.kill_after)
            print(f"{attack:<10} {json.dumps(results[attack])}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {results['load'][0]:.1f}; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
