"""``python -m benchmarks``: the benchmark harness (its code is in ``aioh5saver.tools.bench``, so
that ``aioh5saver bench`` works from an installed package too)."""

import sys

from aioh5saver.tools.bench.cli import main

sys.exit(main())
