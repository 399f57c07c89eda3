"""How does training throughput change with batch size, on this machine, and how does gpugrad
compare with what one would otherwise use?

    python -m bench                                  # best device, default batch sizes
    python -m bench --device cpu --batch-sizes 16..1024
    python -m bench --device cuda --batch-sizes 64..32768 --repeats 9
    python -m bench --quick                          # a few batch sizes, fewer repeats

For each batch size and each implementation (see bench/peers.py: gpugrad, the step written by
hand in NumPy/CuPy, PyTorch eager, PyTorch with the whole step in a CUDA graph, JAX jit) it
times one SGD step of the MLP (default 784-1024-1024-10, ReLU, softmax cross-entropy) and
reports ms per step, samples per second, peak memory of a step, kernel launches per step (on
CUDA, where PyTorch's profiler is there to count them) and the time as a ratio to gpugrad's.

Timing: ``--warmup`` steps first (the first one's loss is kept, to check that every
implementation does the same work), then ``--repeats`` timed runs. Each timed run queues enough
steps back to back to last about ``--min-time`` seconds and waits for the device at its end
(``gg.synchronize()`` for gpugrad and CuPy, ``torch.cuda.synchronize()`` for PyTorch,
``block_until_ready`` for JAX, nothing on the CPU); ms per step is the median over the runs of
(run time / steps in the run). Samples per second is batch / that median.

A peer that is not installed is skipped with one line saying so (and a ``status`` of
``skipped: ...`` in the CSV), never an error. Writes to ``--out`` (default ``bench-results/``):
``results.csv``, ``results.json`` (with the device, library versions and date), ``results.md``
(the table as Markdown) and ``batch_sizes.png`` (samples/s against batch size, log-log).
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import gpugrad as gg

from . import peers

#: Columns of results.csv, in order.
CSV_COLUMNS = [
    "batch", "impl", "label", "status", "ms_per_step", "ms_min", "ms_max", "samples_per_s",
    "ratio_to_gpugrad", "peak_mem_mb", "mem_measure", "kernels_per_step", "first_loss",
    "repeats", "steps_per_repeat", "device", "dtype", "sizes",
]

DEFAULT_BATCHES = {"cpu": "16..1024", "cuda": "64..32768"}
QUICK_BATCHES = {"cpu": "16,64,256", "cuda": "64,512,4096,32768"}
DEFAULTS = {"repeats": 7, "warmup": 5, "min_time": 0.2}
QUICK = {"repeats": 3, "warmup": 2, "min_time": 0.05}
MAX_STEPS_PER_REPEAT = 20000

NOTES = {
    "ms_per_step": "median over the timed runs of (run time / steps in the run); each run is "
                   "synchronised with the device at its end",
    "samples_per_s": "batch / ms_per_step",
    "ratio_to_gpugrad": "ms_per_step / gpugrad's ms_per_step at the same batch size "
                        "(above 1: gpugrad is faster)",
    "peak_mem_mb": "peak memory of one step in MiB; what it counts differs by implementation "
                   "and device, see mem_measure",
    "kernels_per_step": "CUDA kernels launched by one step, counted with torch.profiler (CUPTI "
                        "sees CuPy's launches too); empty on the CPU, without PyTorch, or where "
                        "the profiler saw none",
    "first_loss": "loss of the first step from the shared initial weights: equal across "
                  "implementations when they do the same work",
}


# ----------------------------------------------------------------------------- arguments

def parse_batch_sizes(text):
    """'64,128' or '64..32768' (powers of two from a to b) or a mix: '16..256,1000'."""
    out = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        if ".." in part:
            lo, hi = (int(v) for v in part.split("..", 1))
            if lo < 1 or hi < lo:
                raise argparse.ArgumentTypeError(f"bad batch range {part!r}: need 1 <= a <= b")
            b = lo
            while b <= hi:
                out.append(b)
                b *= 2
        else:
            b = int(part)
            if b < 1:
                raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {b}")
            out.append(b)
    if not out:
        raise argparse.ArgumentTypeError("no batch sizes given")
    return sorted(set(out))


def _batch_arg(text):
    try:
        return parse_batch_sizes(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad batch sizes {text!r}: use a comma list (64,128) or a range of powers of two "
            "(64..32768)") from None


def _sizes_arg(text):
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad layer sizes {text!r}: use e.g. 784,1024,1024,10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need at least two positive layer sizes, got {text!r}")
    if sizes[-1] < 2:
        raise argparse.ArgumentTypeError("the last layer size is the number of classes: at least 2")
    return sizes


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time one SGD step of an MLP at several batch sizes with gpugrad and the peers "
                    "that are installed (hand-written NumPy/CuPy, PyTorch eager, PyTorch CUDA "
                    "graph, JAX jit); print a table and write results.csv, results.json, "
                    "results.md and batch_sizes.png.")
    p.add_argument("--batch-sizes", type=_batch_arg, default=None,
                   help="comma list or a..b range of powers of two "
                        f"[default: {DEFAULT_BATCHES['cuda']} on cuda, {DEFAULT_BATCHES['cpu']} on cpu]")
    p.add_argument("--sizes", type=_sizes_arg, default=(784, 1024, 1024, 10),
                   help="layer sizes of the MLP, input first, classes last [default: 784,1024,1024,10]")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="[default: float32]")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when CuPy sees a GPU, else cpu [default: auto]")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed runs per measurement; the median is reported [default: {DEFAULTS['repeats']}]")
    p.add_argument("--warmup", type=int, default=None,
                   help=f"untimed steps before timing [default: {DEFAULTS['warmup']}]")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds each timed run should last (it runs that many steps back to back) "
                        f"[default: {DEFAULTS['min_time']}]")
    p.add_argument("--impl", default=",".join(peers.IMPLS),
                   help="comma list of implementations to run, from: " + ", ".join(peers.IMPLS)
                   + " [default: all]")
    p.add_argument("--out", default="bench-results", help="directory for the results files [default: bench-results]")
    p.add_argument("--quick", action="store_true",
                   help=f"a quick look: batch sizes {QUICK_BATCHES['cuda']} on cuda "
                        f"({QUICK_BATCHES['cpu']} on cpu), {QUICK['repeats']} repeats, "
                        f"{QUICK['warmup']} warm-up steps, {QUICK['min_time']} s runs "
                        "(explicit options win)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for NumPy's BLAS, OpenMP and PyTorch (through threadpoolctl "
                        "and torch.set_num_threads; JAX/XLA keeps its own pool) "
                        "[default: each library's own choice]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def resolve_device(spec, parser=None):
    if spec == "auto":
        return "cuda" if gg.cuda_available() else "cpu"
    if spec == "cuda" and not gg.cuda_available():
        msg = f"--device cuda: CUDA is not available: {gg.backend.cuda_unavailable_reason()}"
        if parser is not None:
            parser.error(msg)
        raise RuntimeError(msg)
    return spec


# ----------------------------------------------------------------------------- environment

def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device):
    info = {"type": device, "host_cpu": _cpu_name(), "host_cpu_count": os.cpu_count()}
    try:   # other work on the machine skews CPU timings: keep the load it had at the start
        info["host_load_average_1m"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    if device == "cpu":
        info["name"] = info["host_cpu"]
        return info
    cp = gg.backend.cupy_module()
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props.get("name", b"?")
    info["name"] = name.decode() if isinstance(name, bytes) else str(name)
    info["memory_gib"] = round(props.get("totalGlobalMem", 0) / 2**30, 1)
    info["compute_capability"] = f"{props.get('major')}.{props.get('minor')}"
    try:
        info["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
        info["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
    except Exception:
        pass
    return info


def _dist_version(*names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def library_versions():
    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpugrad": gg.__version__,
        "numpy": np.__version__,
        "cupy": _dist_version("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy"),
        "torch": _dist_version("torch"),
        "jax": _dist_version("jax"),
        "jaxlib": _dist_version("jaxlib"),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            versions["torch_cuda"] = torch.version.cuda
    return versions


# ----------------------------------------------------------------------------- progress

class Progress:
    """A tqdm bar when tqdm is installed, else one printed line per measurement."""

    def __init__(self, total, enabled=True, stream=None):
        self.total, self.done, self.enabled = total, 0, enabled
        self.stream = stream or sys.stdout
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="run", dynamic_ncols=True, leave=False)

    def start(self, what):
        if self.bar is not None:
            self.bar.set_description_str(what)
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {what}", file=self.stream, flush=True)

    def advance(self):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def write(self, msg):
        if self.bar is not None:
            self.bar.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- measuring

def time_runner(runner, warmup, repeats, min_time, max_steps=MAX_STEPS_PER_REPEAT):
    """Warm up, calibrate the steps per timed run, then time ``repeats`` runs (see module doc)."""
    first_loss = runner.loss_value(runner.step())     # also the first warm-up step
    for _ in range(max(warmup - 1, 0)):
        runner.step()
    runner.sync()
    t0 = time.perf_counter()
    runner.step()
    runner.sync()
    one = time.perf_counter() - t0
    steps = int(max(1, min(max_steps, math.ceil(min_time / max(one, 1e-9)))))
    times = []
    for _ in range(repeats):
        runner.sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            runner.step()
        runner.sync()
        times.append((time.perf_counter() - t0) / steps)
    return {
        "ms_per_step": statistics.median(times) * 1e3,
        "ms_min": min(times) * 1e3,
        "ms_max": max(times) * 1e3,
        "steps_per_repeat": steps,
        "first_loss": first_loss,
    }


def _short_error(exc):
    if gg.backend.is_out_of_memory(exc) or "out of memory" in str(exc).lower():
        return "error: out of memory"
    msg = " ".join(str(exc).split())
    return f"error: {type(exc).__name__}: {msg}"[:240]


def check_impls(config, log=print):
    """(active Impls, {name: 'skipped: ...'}) for the implementations asked for; logs one line
    per distinct reason a peer cannot run here."""
    device = config["device"]
    skipped, active = {}, []
    for name in config["impls"]:
        impl = peers.IMPLS[name]
        try:
            impl.check(device)
        except peers.Unavailable as why:
            skipped[name] = str(why)
            continue
        active.append(impl)
    for why in dict.fromkeys(skipped.values()):     # one line per reason
        names = [n for n, w in skipped.items() if w == why]
        log(why if names == [n for n in names if n in why] else f"{why} ({', '.join(names)})")
    return active, skipped


def run_comparison(config, progress=None, log=print, checked=None):
    """Measure every (batch, implementation) pair; returns (rows, skipped) where rows are dicts
    with the CSV columns and skipped maps an implementation to its 'skipped: ...' reason."""
    device, dtype, sizes = config["device"], np.dtype(config["dtype"]), tuple(config["sizes"])
    active, skipped = checked if checked is not None else check_impls(config, log)
    skipped = dict(skipped)
    common = {"device": device, "dtype": dtype.name, "sizes": "-".join(map(str, sizes)),
              "repeats": config["repeats"]}
    rows = []
    progress = progress or Progress(len(config["batch_sizes"]) * len(active), enabled=False)
    for batch in config["batch_sizes"]:
        for impl in active:
            progress.start(f"{impl.name} batch {batch}")
            row = {"batch": batch, "impl": impl.name, "label": impl.name, **common}
            runner = None
            try:
                runner = impl.build(batch, sizes, dtype, device)
                row["label"] = runner.label
                row.update(time_runner(runner, config["warmup"], config["repeats"],
                                       config["min_time"]))
                row["samples_per_s"] = batch / (row["ms_per_step"] / 1e3)
                row["mem_measure"] = runner.mem_measure
                peak = runner.peak_memory()
                row["peak_mem_mb"] = None if peak is None else peak / 2**20
                row["kernels_per_step"] = runner.kernels_per_step()
                row["status"] = "ok"
            except peers.Unavailable as why:
                row["status"] = str(why)
                skipped.setdefault(impl.name, str(why))
            except Exception as exc:  # OOM at a large batch, a peer's bug: report, go on
                row["status"] = _short_error(exc)
                progress.write(f"{impl.name} at batch {batch}: {row['status']}")
            finally:
                if runner is not None:
                    try:
                        runner.close()
                    except Exception:
                        pass
                runner = None
                peers.free_device_memory()
            rows.append(row)
            progress.advance()
        for name, why in skipped.items():
            if not any(r["batch"] == batch and r["impl"] == name for r in rows):
                rows.append({"batch": batch, "impl": name, "label": name, "status": why, **common})
    _add_ratios(rows)
    return rows, skipped


def _add_ratios(rows):
    base = {r["batch"]: r["ms_per_step"] for r in rows
            if r["impl"] == "gpugrad" and r.get("status") == "ok"}
    for r in rows:
        if r.get("status") == "ok" and r["batch"] in base:
            r["ratio_to_gpugrad"] = r["ms_per_step"] / base[r["batch"]]


def loss_mismatches(rows, rtol=None):
    """Rows whose first loss differs from gpugrad's at the same batch by more than rtol."""
    out = []
    ref = {r["batch"]: r["first_loss"] for r in rows
           if r["impl"] == "gpugrad" and r.get("status") == "ok"}
    for r in rows:
        if r.get("status") != "ok" or r["batch"] not in ref or r["impl"] == "gpugrad":
            continue
        tol = rtol if rtol is not None else (1e-3 if r["dtype"] == "float32" else 1e-8)
        a, b = r["first_loss"], ref[r["batch"]]
        if not abs(a - b) <= tol * max(abs(b), 1e-12):
            out.append(r)
    return out


# ----------------------------------------------------------------------------- output

def _fmt(v, kind):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "ms":
        return f"{v:.3f}" if v < 100 else f"{v:.1f}"
    if kind == "rate":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    if kind == "mb":
        return f"{v:.2f}" if v < 10 else f"{v:.1f}"
    if kind == "ratio":
        return f"{v:.2f}"
    return str(v)


TABLE_HEADER = ["batch", "implementation", "ms/step", "samples/s", "peak MiB", "kernels",
                "vs gpugrad"]


def table_rows(rows):
    """The table's cells: one line per measured (batch, implementation), batch shown once."""
    out, last = [], None
    for r in rows:
        if r.get("status") != "ok" and not str(r.get("status", "")).startswith("error"):
            continue                              # skipped peers are listed separately
        if r.get("status") == "ok":
            cells = [_fmt(r["ms_per_step"], "ms"), _fmt(r["samples_per_s"], "rate"),
                     _fmt(r.get("peak_mem_mb"), "mb"), _fmt(r.get("kernels_per_step"), "int"),
                     _fmt(r.get("ratio_to_gpugrad"), "ratio")]
        else:
            cells = [r["status"], "", "", "", ""]
        out.append([str(r["batch"]) if r["batch"] != last else "", r["label"], *cells])
        last = r["batch"]
    return out


def format_table(rows):
    body = table_rows(rows)
    widths = [len(h) for h in TABLE_HEADER]
    for line in body:
        for i, cell in enumerate(line[:2]):
            widths[i] = max(widths[i], len(cell))
        for i, cell in enumerate(line[2:], 2):
            if not cell.startswith("error"):
                widths[i] = max(widths[i], len(cell))
    align = ["r", "l", "r", "r", "r", "r", "r"]

    def fmt_line(cells):
        parts = []
        for i, cell in enumerate(cells):
            if cell.startswith("error"):
                parts.append(cell)
                break
            parts.append(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    lines = [fmt_line(TABLE_HEADER), fmt_line(["-" * w for w in widths])]
    lines += [fmt_line(line) for line in body]
    return "\n".join(lines)


def format_markdown(rows):
    lines = ["| " + " | ".join(TABLE_HEADER) + " |",
             "| " + " | ".join(["---:", ":---"] + ["---:"] * (len(TABLE_HEADER) - 2)) + " |"]
    for line in table_rows(rows):
        lines.append("| " + " | ".join(c if c else "" for c in line) + " |")
    return "\n".join(lines)


def legend(rows, skipped):
    lines = ["vs gpugrad: ms/step divided by gpugrad's at the same batch size (above 1: gpugrad is faster)."]
    seen = {}
    for r in rows:
        if r.get("status") == "ok":
            seen.setdefault(r["label"], r.get("mem_measure"))
    for label, what in seen.items():
        lines.append(f"peak MiB, {label}: {what}.")
    device = rows[0]["device"] if rows else "cpu"
    if device == "cuda":
        lines.append("kernels: CUDA kernel launches in one step, counted with torch.profiler "
                     "(empty where it could not count them).")
    else:
        lines.append("kernels: counted on CUDA only.")
    if skipped:
        parts = []
        for why in dict.fromkeys(skipped.values()):
            names = [n for n, w in skipped.items() if w == why]
            parts.append(f"{', '.join(names)}: {why.removeprefix('skipped: ')}")
        lines.append("not run: " + "; ".join(parts) + ".")
    return "\n".join(lines)


_CSV_DIGITS = {"ms_per_step": 5, "ms_min": 5, "ms_max": 5, "samples_per_s": 1,
               "ratio_to_gpugrad": 4, "peak_mem_mb": 3}


def _csv_value(key, value):
    if value is None:
        return ""
    if key in _CSV_DIGITS and isinstance(value, float):
        return round(value, _CSV_DIGITS[key])
    if key == "first_loss" and isinstance(value, float):
        return float(f"{value:.8g}")
    return value


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(k, r.get(k)) for k in CSV_COLUMNS})


def write_json(path, rows, meta):
    clean = [{k: r.get(k) for k in CSV_COLUMNS} for r in rows]
    with open(path, "w") as f:
        json.dump({**meta, "columns": CSV_COLUMNS, "notes": NOTES, "results": clean}, f,
                  indent=2, default=str)
        f.write("\n")


def write_plot(path, rows, meta):
    """samples/s against batch size, log-log, one line per implementation. Returns False
    (and writes nothing) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    by_label = {}
    for r in rows:
        if r.get("status") == "ok":
            by_label.setdefault(r["label"], []).append((r["batch"], r["samples_per_s"]))
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    styles = {"gpugrad": dict(linewidth=2.5, zorder=5)}
    for label, pts in by_label.items():
        pts.sort()
        ax.plot([b for b, _ in pts], [s for _, s in pts], marker="o", markersize=4, label=label,
                **styles.get(label, dict(linewidth=1.5)))
    batches = sorted({r["batch"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if batches:
        ax.set_xticks(batches)
        ax.set_xticklabels([str(b) for b in batches], rotation=45 if len(batches) > 8 else 0)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    rates = [r["samples_per_s"] for r in rows if r.get("status") == "ok"]
    narrow = bool(rates) and max(rates) / min(rates) < 30   # within ~1.5 decades: label minors
    ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples / s (median of timed runs)")
    cfg, dev = meta["config"], meta["device"]
    threads = f", {cfg['threads']} thread(s)" if cfg.get("threads") else ""
    ax.set_title(f"MLP {'-'.join(map(str, cfg['sizes']))} SGD step, {cfg['dtype']}{threads}\n"
                 f"{dev['type']}: {dev['name']}, {meta['date'][:10]}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if by_label:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- main

def make_config(args, parser=None):
    device = resolve_device(args.device, parser)
    quick = args.quick
    batches = args.batch_sizes or parse_batch_sizes((QUICK_BATCHES if quick else DEFAULT_BATCHES)[device])
    base = QUICK if quick else DEFAULTS
    impls = [s.strip() for s in args.impl.split(",") if s.strip()]
    unknown = [s for s in impls if s not in peers.IMPLS]
    if unknown or not impls:
        msg = (f"--impl: unknown implementation(s) {', '.join(unknown)}; choose from "
               f"{', '.join(peers.IMPLS)}") if unknown else "--impl: name at least one implementation"
        if parser is not None:
            parser.error(msg)
        raise ValueError(msg)
    config = {
        "device": device, "dtype": args.dtype, "sizes": list(args.sizes), "batch_sizes": batches,
        "repeats": args.repeats if args.repeats is not None else base["repeats"],
        "warmup": args.warmup if args.warmup is not None else base["warmup"],
        "min_time": args.min_time if args.min_time is not None else base["min_time"],
        "impls": list(dict.fromkeys(impls)), "quick": quick, "threads": args.threads,
    }
    if (config["repeats"] < 1 or config["warmup"] < 0 or config["min_time"] < 0
            or (args.threads is not None and args.threads < 1)):
        msg = "--repeats and --threads must be >= 1, --warmup and --min-time >= 0"
        if parser is not None:
            parser.error(msg)
        raise ValueError(msg)
    return config


def _limit_threads(n):
    """Cap the threads of the BLAS and OpenMP libraries loaded so far (NumPy's, PyTorch's)."""
    if n is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("warning: --threads needs threadpoolctl (pip install threadpoolctl) for NumPy's "
              "BLAS; only PyTorch is limited")
        return None
    return threadpool_limits(limits=n)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    config = make_config(args, parser)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = device_info(config["device"])
    date = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    print(f"gpugrad {gg.__version__} batch-size comparison: MLP "
          f"{'-'.join(map(str, config['sizes']))}, {config['dtype']}, on {config['device']} "
          f"({dev['name']}), batches {','.join(map(str, config['batch_sizes']))}, "
          f"median of {config['repeats']} runs", flush=True)

    peers.TORCH_THREADS = config["threads"]
    checked = check_impls(config)
    limits = _limit_threads(config["threads"])
    n_runs = len(config["batch_sizes"]) * len(checked[0])
    progress = Progress(n_runs, enabled=not args.no_progress)
    try:
        rows, skipped = run_comparison(config, progress, log=progress.write, checked=checked)
    finally:
        progress.close()
        if limits is not None:
            limits.restore_original_limits()

    try:
        dev["host_load_average_1m_end"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    meta = {"date": date, "device": dev, "versions": library_versions(), "config": config,
            "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "skipped": skipped}
    print()
    print(format_table(rows))
    print()
    print(legend(rows, skipped))
    for r in loss_mismatches(rows):
        print(f"warning: {r['label']} at batch {r['batch']}: first loss {r['first_loss']:.6g} "
              f"differs from gpugrad's; the two are not doing the same work")

    write_csv(out / "results.csv", rows)
    write_json(out / "results.json", rows, meta)
    (out / "results.md").write_text(
        f"MLP {'-'.join(map(str, config['sizes']))}, {config['dtype']}, SGD step; "
        f"{config['device']}: {dev['name']}; {date[:10]}; median of {config['repeats']} runs.\n\n"
        + format_markdown(rows) + "\n\n" + legend(rows, skipped) + "\n")
    written = ["results.csv", "results.json", "results.md"]
    if write_plot(out / "batch_sizes.png", rows, meta):
        written.append("batch_sizes.png")
    else:
        print("plot skipped: matplotlib is not installed (pip install matplotlib)")
    print(f"wrote {', '.join(str(out / w) for w in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
