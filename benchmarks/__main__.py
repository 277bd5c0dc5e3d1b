"""`python -m benchmarks`: run every benchmark and update BENCHMARKS.md."""

from __future__ import annotations

import sys

from .rubric import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
