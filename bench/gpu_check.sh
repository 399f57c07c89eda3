#!/usr/bin/env bash
# The checks that need a GPU, in stages that each run well under 10 minutes and can run alone.
#
#   bash bench/gpu_check.sh                   # every stage, in this order
#   bash bench/gpu_check.sh tests tour        # some of them
#
#   tests    python -m pytest -m gpu tests/   (the GPU half of the test suite, nothing else)
#   tour     the README's tour, copied to a file and run as a user would, with GPUGRAD_DEVICE=cuda
#   kernels  the kernel and training-step benchmarks, GPU cases only (bench/test_kernels.py,
#            bench/test_gpu_step.py --benchmark-only -m gpu)
#   sweep    the batch-size comparison on cuda (python -m bench --device cuda --quick; SWEEP=full
#            for every batch size from 64 to 32768)
#   layers   the layer benchmarks beside PyTorch (cuDNN) on cuda: Conv2d, BatchNorm2d, Dropout and
#            the CNN step (bench.cnn), LayerNorm and Embedding (bench.layers), an LSTM layer
#            (bench.lstm), the Hessian-vector product (bench.hvp)
#   train    gpugrad-train on Fashion-MNIST (784-512-256-10, EPOCHS=10) on cuda
#
# First it checks what the chosen stages need (CuPy with a usable GPU, pytest, pytest-benchmark,
# tqdm, matplotlib, the Fashion-MNIST files) and stops at once, saying what is missing. The
# data: FASHION_DIR, else shared/data/fashion-mnist beside or inside the repository, else
# /usr/share/datasets/fashion-mnist; without it the train stage fails (it never trains on
# anything else). Each stage's log goes to $OUT (default: gpu-check/), a stage is stopped after
# STAGE_TIMEOUT seconds (default 540), a summary table comes last, and the exit status is 1 if
# any stage failed (2 for bad usage or missing dependencies).
set -u -o pipefail
out=${OUT:-gpu-check}             # relative to where the script is run from
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2
root=$PWD
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
limit=${STAGE_TIMEOUT:-540}
all_stages=(tests tour kernels sweep layers train)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=("${all_stages[@]}")
for stage in "${stages[@]}"; do
    case " ${all_stages[*]} " in
        *" $stage "*) ;;
        *) echo "gpu_check.sh: unknown stage '$stage' (stages: ${all_stages[*]})" >&2; exit 2 ;;
    esac
done
wants() { case " ${stages[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------ dependencies, first
fashion_dir() {
    local dir
    for dir in ${FASHION_DIR:+"$FASHION_DIR"} "$root/../shared/data/fashion-mnist" \
               "$root/shared/data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
        if [ -e "$dir/train-images-idx3-ubyte" ] || [ -e "$dir/train-images-idx3-ubyte.gz" ]; then
            (cd "$dir" && pwd)
            return 0
        fi
        [ -n "${FASHION_DIR:-}" ] && [ "$dir" = "$FASHION_DIR" ] && break   # named, but not there
    done
    return 1
}

modules="gpugrad cupy"
wants tests && modules="$modules pytest"
wants kernels && modules="$modules pytest pytest_benchmark"
wants layers && modules="$modules torch threadpoolctl"
wants train && modules="$modules tqdm matplotlib"
environment=$(python - $modules <<'EOF' 2>&1
import importlib.util, sys
missing = [m for m in dict.fromkeys(sys.argv[1:]) if importlib.util.find_spec(m) is None]
if missing:
    print("missing Python modules: " + ", ".join(missing)
          + " (pip install -e '.[test,cuda12]' brings them all)")
    sys.exit(1)
import gpugrad as gg
if not gg.cuda_available():
    print("CUDA is not usable: " + gg.backend.cuda_unavailable_reason())
    sys.exit(1)
import cupy
print(f"gpugrad on {gg.get_default_device()}, CuPy {cupy.__version__}, "
      f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
      f"{gg.backend.cuda_device_count()} GPU(s), NVRTC {cupy.cuda.nvrtc.getVersion()}")
EOF
)
ready=$?
problems=()
[ $ready -ne 0 ] && problems+=("$environment")
if wants train && ! data=$(fashion_dir); then
    if [ -n "${FASHION_DIR:-}" ]; then
        problems+=("FASHION_DIR=$FASHION_DIR holds no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...)")
    else
        problems+=("no Fashion-MNIST IDX files for the train stage (looked in $root/../shared/data/fashion-mnist, $root/shared/data/fashion-mnist and /usr/share/datasets/fashion-mnist; set FASHION_DIR)")
    fi
fi
if [ ${#problems[@]} -ne 0 ]; then
    printf 'gpu_check.sh: cannot start: %s\n' "${problems[@]}" >&2
    exit 2
fi
{ echo "$environment"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1; } \
    > "$out/environment.log"

# ------------------------------------------------------------------ the stages
stage_tests() {
    python -m pytest -m gpu -q -rfEs -p no:cacheprovider tests/
}

stage_tour() {
    python - "$out/readme_tour.py" <<'EOF' || return 1
import re, sys
text = open("README.md").read()
code = re.search(r"## A tour\n\n```python\n(.*?)```", text, re.S).group(1)
open(sys.argv[1], "w").write(code + "\nprint('the tour ran on', xb.device, 'accuracy', accuracy)\n")
EOF
    (cd "$out" && GPUGRAD_DEVICE=cuda python readme_tour.py) | tee "$out/tour_output.txt" || return 1
    python - "$out/tour_output.txt" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
want = "tensor(-4., device='cuda:0') tensor(-4., device='cuda:0') tensor(3., device='cuda:0')"
ok = want in lines and any(line.startswith("the tour ran on cuda:0") for line in lines)
print("the README tour ran on cuda:0 and printed what the README says" if ok
      else f"unexpected output: wanted the line {want!r} and the tour on cuda:0")
sys.exit(0 if ok else 1)
EOF
}

stage_kernels() {
    python -m pytest bench/test_kernels.py bench/test_gpu_step.py --benchmark-only -m gpu -q \
        -p no:cacheprovider
}

stage_sweep() {
    local quick=--quick
    [ "${SWEEP:-quick}" = full ] && quick=
    python -m bench --device cuda --out "$out/sweep" --no-progress $quick
}

stage_layers() {
    python -m bench.cnn --device cuda --out "$out/cnn" &&
        python -m bench.layers --device cuda &&
        python -m bench.lstm --device cuda &&
        python -m bench.hvp --device cuda --batch-sizes 64,512,4096
}

stage_train() {
    rm -rf "$out/train"
    python -m gpugrad.train --dataset fashion-mnist --data-dir "$data" --hidden 512,256 \
        --epochs "${EPOCHS:-10}" --device cuda --out "$out/train"
}

# One line for the summary: what the stage's log says in the end.
result_of() {
    local stage=$1 log=$2
    case $stage in
        tests | kernels) grep -E "[0-9]+ (passed|failed|error)" "$log" | tail -n 1 ;;
        tour) tail -n 1 "$log" ;;
        sweep) [ -f "$out/sweep/results.md" ] && echo "table in $out/sweep/results.md" ;;
        layers) grep -E "^(conv2d|cnn_step) " "$log" | awk '{printf "%s %s/torch, ", $1, $NF}' ;;
        train) python -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"test accuracy {100*d['final_test_accuracy']:.2f}% after {len(d['epochs'])} epochs, {d['wall_time_s']:.0f} s\")" \
                   "$out/train/metrics.json" 2>/dev/null ;;
    esac
}

export out root data=${data:-}
export -f stage_tests stage_tour stage_kernels stage_sweep stage_layers stage_train
failed=0
summary=()
for stage in "${stages[@]}"; do
    log="$out/$stage.log"
    echo "== $stage (log: $log)"
    start=$(date +%s)
    timeout --kill-after=30 "$limit" bash -o pipefail -c "stage_$stage" > "$log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - start ))
    case $rc in
        0) verdict=PASS ;;
        124 | 137) verdict="TIMEOUT (${limit} s)" ;;
        *) verdict="FAIL (exit $rc)" ;;
    esac
    if [ $rc -ne 0 ]; then
        failed=1
        tail -n 20 "$log"
    fi
    summary+=("$(printf '| %-7s | %-16s | %5s s | %s' "$stage" "$verdict" "$seconds" "$(result_of "$stage" "$log")")")
done

echo
echo "== gpu_check.sh summary: $(head -n 1 "$out/environment.log")"
printf '| %-7s | %-16s | %7s | %s\n' stage status time result
printf '|%s|%s|%s|%s\n' "---------" "------------------" "---------" "--------"
printf '%s\n' "${summary[@]}"
exit $failed
