"""``python -m gpugrad.train``: the same as ``gpugrad-train``."""
from .cli import main

raise SystemExit(main())
