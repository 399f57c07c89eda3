"""The stand-in's ``cuda`` package: only ``cuda.pathfinder`` (CuPy's library finder), which
gives gpugrad a host build of the cuBLAS functions it calls itself (see pathfinder)."""
