#!/usr/bin/env bash
# Everything that needs a GPU, in one call (from the repository root, with CuPy installed):
# the gpu-marked tests, the kernel and training-step benchmarks, the batch-size comparison
# beside PyTorch, and (when the data is there) the Fashion-MNIST run of gpugrad-train.
# Logs and results go to $OUT (the device tool's folder) or ./gpu-check; a short summary is
# printed last.
#
#   bash bench/gpu_check.sh                     # FASHION_DIR=/path/to/idx/files to add the training run
set -u
out=${OUT:-gpu-check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -c "import gpugrad as gg, cupy; print('cupy', cupy.__version__, 'device', gg.get_default_device())" \
    > "$out/env.log" 2>&1 || { cat "$out/env.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >> "$out/env.log" 2>&1

python -m pytest -m gpu -q -rfE -p no:cacheprovider > "$out/pytest_gpu.log" 2>&1
python -m pytest bench/test_kernels.py bench/test_gpu_step.py --benchmark-only -q \
    -p no:cacheprovider > "$out/bench_pytest.log" 2>&1
python -m bench --device cuda --out "$out/bench" --no-progress > "$out/bench.log" 2>&1

data=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ -d "$data" ]; then
    for device in cuda cpu; do
        gpugrad-train --dataset fashion-mnist --data-dir "$data" --hidden 512,256 --epochs 15 \
            --device "$device" --out "$out/fashion_$device" > "$out/fashion_$device.log" 2>&1 \
            || python -m gpugrad.train --dataset fashion-mnist --data-dir "$data" --hidden 512,256 \
                --epochs 15 --device "$device" --out "$out/fashion_$device" > "$out/fashion_$device.log" 2>&1
    done
fi

echo "== environment";            cat "$out/env.log"
echo "== pytest -m gpu";          tail -n 15 "$out/pytest_gpu.log"
echo "== kernel and step benchmarks (ratios to each group's anchor)"
sed -n '/median time as a ratio/,/^=*$/p' "$out/bench_pytest.log" | head -n 60
echo "== batch-size comparison";  sed -n '/^batch/,/^$/p' "$out/bench.log"
for device in cuda cpu; do
    [ -f "$out/fashion_$device.log" ] && { echo "== fashion-mnist on $device"; tail -n 2 "$out/fashion_$device.log"; }
done
exit 0
