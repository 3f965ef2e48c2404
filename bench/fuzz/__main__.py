"""Fuzz every decoder: `python -m bench.fuzz [--runs N] [--only NAME ...] [--jobs J]`.

Each decoder runs in a process of its own (bench/fuzz/one.py) for `--runs` inputs, seeded with
its recordings; its corpus and any crash input go below `--work` (a temporary directory unless
given, so that a later run can go on from a corpus). Prints one row per decoder: inputs, time,
inputs per second, the edges and features covered, the corpus, and each crash with its input.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import machine
from tests.decoders import DECODERS

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Result:
    name: str
    runs: int = 0
    seconds: float = 0.0
    cov: int = 0
    features: int = 0
    corpus: int = 0
    crashes: list[Path] = field(default_factory=list)
    failure: str = ""


_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def fuzz(name: str, runs: int, work: Path, timeout: float) -> Result:
    result = Result(name)
    place = work / name
    seeds, corpus, artifacts = place / "seeds", place / "corpus", place / "crashes"
    for folder in (seeds, corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    decoder = next(d for d in DECODERS if d.name == name)
    for index, seed in enumerate(decoder.seeds()):
        (seeds / f"seed-{index}").write_bytes(seed)
    command = [
        sys.executable,
        "-m",
        "bench.fuzz.one",
        name,
        f"-runs={runs}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        *([f"-max_len={decoder.max_len}"] if decoder.max_len else []),
        str(corpus),
        str(seeds),
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=timeout
    )
    result.seconds = time.monotonic() - started
    log = done.stderr
    (work / name / "fuzz.log").write_text(log)
    statuses = list(_STATUS.finditer(log))
    match = _DONE.search(log) or (statuses[-1] if statuses else None)
    if match is not None:
        result.runs, result.cov, result.features, result.corpus = map(int, match.groups())
    result.crashes = sorted(artifacts.glob("*"))
    if done.returncode != 0:
        where = log.find("Uncaught Python exception")
        result.failure = log[where : where + 2000] if where >= 0 else log[-2000:]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per decoder")
    args = parser.parse_args()
    names = [d.name for d in DECODERS if not args.only or d.name in args.only]
    work = args.work or Path(tempfile.mkdtemp(prefix="fuzz-"))
    print(f"machine: {machine()}")
    print(f"{args.runs} inputs per decoder, {args.jobs} at a time; corpora and crashes in {work}\n")
    print(
        f"{'decoder':<20} {'inputs':>9} {'seconds':>8} {'inputs/s':>9} {'edges':>6} "
        f"{'features':>8} {'corpus':>6}  crashes"
    )
    crashed = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(fuzz, name, args.runs, work, args.timeout) for name in names]
        for future in futures:
            r = future.result()
            rate = r.runs / r.seconds if r.seconds else 0.0
            print(
                f"{r.name:<20} {r.runs:>9} {r.seconds:>8.1f} {rate:>9.0f} {r.cov:>6} "
                f"{r.features:>8} {r.corpus:>6}  {len(r.crashes)}",
                flush=True,
            )
            if r.failure or r.crashes:
                crashed += 1
                for crash in r.crashes:
                    print(f"    input {crash}: {crash.read_bytes()[:200]!r}")
                print("    " + r.failure.replace("\n", "\n    "))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
