"""``gg.cuda``: whole-step CUDA graphs (:mod:`.graphs`)."""
from .graphs import CUDAGraph, GraphCaptureError, GraphedStep, graph, graphed

__all__ = ["CUDAGraph", "graph", "graphed", "GraphedStep", "GraphCaptureError"]
