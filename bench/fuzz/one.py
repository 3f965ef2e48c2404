"""One decoder under atheris: `python -m bench.fuzz.one NAME -- LIBFUZZER_ARGS...`.

The collector's modules are instrumented for coverage; an input may make the decoder raise what
its entry in tests/decoders.py allows, anything else is a crash (libFuzzer writes the input to
its artifact prefix and stops).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports(include=["collector"]):
    from tests.decoders import BY_NAME

    decoder = BY_NAME[sys.argv[1]]
    for seed in decoder.seeds():  # imports the decoder's modules while instrumenting
        with contextlib.suppress(*decoder.allowed):
            decoder.run(seed)


def test_one(data: bytes) -> None:
    with contextlib.suppress(*decoder.allowed):
        decoder.run(data)


def main() -> None:
    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
