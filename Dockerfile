# gpugrad on an NVIDIA GPU: CuPy for CUDA 12 and what gpugrad-train needs, on a CUDA 12 runtime.
#
#   docker build -t gpugrad .
#   docker run --gpus all --rm -v "$PWD/runs:/work/runs" gpugrad            # gpugrad-train, the defaults
#   docker run --gpus all --rm -v "$PWD/runs:/work/runs" gpugrad gpugrad-train --epochs 10 --out runs/short
#   docker run --gpus all --rm -v "$PWD/runs:/work/runs" gpugrad mpiexec -n 2 gpugrad-train --device cuda
#                                                      # data parallel: one process per GPU, NCCL
#
# The host needs an NVIDIA driver for CUDA 12 and the NVIDIA Container Toolkit (for --gpus).
# Results land in /work/runs/gpugrad-train inside the container (mount /work/runs to keep them).
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Ubuntu's Python is "externally managed": gpugrad goes into its own virtual environment.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV"

# Only what the wheel is built from (the CUDA sources in kernels/ ship inside it).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gpugrad ./gpugrad
COPY kernels ./kernels
RUN pip install ".[train,cuda12,mpi]" \
    && python -c "import gpugrad, cupy, sklearn, tqdm, matplotlib, mpi4py; print('gpugrad', gpugrad.__version__, 'cupy', cupy.__version__)"

WORKDIR /work
CMD ["gpugrad-train"]
