"""Coverage-guided fuzzing of every decoder of what another machine sends (atheris, libFuzzer).

`python -m bench.fuzz` runs each decoder of tests/decoders.py in a process of its own, seeded
with the recordings, and prints inputs per second, the coverage reached and every crash. See
bench/README.md.
"""
