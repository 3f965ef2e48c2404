"""The lines a fuzzer's corpus reaches: `python -m bench.fuzz.lines --work DIR [NAME ...]`.

Replays each decoder's seeds and the corpus `python -m bench.fuzz` left in DIR under
coverage.py, each decoder in a fresh process (so that its modules' imports count), and prints
the lines covered of the modules it decodes with (its entry in tests/decoders.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def replay(name: str, work: Path) -> dict[str, tuple[int, int]]:
    """In this process: the decoder's inputs under coverage; {module: (covered, statements)}."""
    import coverage

    measure = coverage.Coverage(data_file=None, include=[str(ROOT / "collector" / "*")])
    measure.start()
    from tests.decoders import BY_NAME

    decoder = BY_NAME[name]
    inputs = [path.read_bytes() for path in sorted((work / name / "corpus").glob("*"))]
    for data in [*decoder.seeds(), *inputs]:
        with contextlib.suppress(*decoder.allowed):
            decoder.run(data)
    measure.stop()
    lines: dict[str, tuple[int, int]] = {}
    for module in decoder.modules:
        _, statements, _, missing, _ = measure.analysis2(str(ROOT / "collector" / module))
        lines[module] = (len(statements) - len(missing), len(statements))
    lines["(inputs)"] = (len(inputs), 0)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child's side
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(replay(args.one, args.work)))
        return 0
    from tests.decoders import DECODERS

    names = args.names or [d.name for d in DECODERS]
    print(f"{'decoder':<20} {'corpus':>6}  lines covered of the modules it decodes with")
    for name in names:
        done = subprocess.run(
            [sys.executable, "-m", "bench.fuzz.lines", "--work", str(args.work), "--one", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = json.loads(done.stdout.splitlines()[-1])
        corpus = lines.pop("(inputs)")[0]
        parts = [
            f"{module} {covered}/{total} ({100 * covered / total:.0f} %)"
            for module, (covered, total) in lines.items()
        ]
        print(f"{name:<20} {corpus:>6}  " + "; ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
