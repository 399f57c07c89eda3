"""``python -m bench``: the batch-size comparison of gpugrad with its peers (bench/compare.py)."""
import sys

from bench.compare import main

sys.exit(main())
