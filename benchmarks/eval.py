"""The robustness and latency suite, as a script: the same as ``livetrans eval``.

    python benchmarks/eval.py --out eval-report [--quick] [--model base] [--long-minutes 30]

See docs/eval.md for what it measures and ``livetrans eval --help`` for every option.
"""

from __future__ import annotations

import sys

from livetrans.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
