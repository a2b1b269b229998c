"""Shared machinery of the benchmarks in bench/ (bench_fc.py, bench_cnn.py, bench_phase1.py).

* CPU snapshots from ``/proc/stat`` and the CPU time of the processes OTHER than this one
  during a measurement (:func:`cpu_snapshot`, :func:`other_load`, :func:`timing_conditions`);
* round-robin timing of named callables with medians / IQR (:func:`time_round_robin`);
* peak-memory measurement of a call through ``VmHWM`` after a reset via
  ``/proc/self/clear_refs`` (:func:`measure_memory`, :func:`peak_tracker`), and running a
  measuring subprocess that prints one JSON line (:func:`run_json_child`);
* machine / software description (:func:`machine_info`) and its report lines;
* atomic JSON writing (:func:`atomic_write_json`) and target formatting (:func:`target`,
  :func:`met_text`).

The scripts import it as ``common`` (their own directory is ``sys.path[0]`` when they run).
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# The benchmarks measure this checkout's snnmap, installed or not.
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)


def rel(path):
    """``path`` relative to the repository root if it lies inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def force_cpu():
    """Hide any GPU from TensorFlow: the benchmarks are about the CPU.  TensorFlow is imported
    as snnmap's commands import it, without its start-up noise."""
    from snnmap import quiet

    quiet.import_keras()
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # devices already initialised
        pass


# ----------------------------------------------------------------------------------------
# Load of the machine
# ----------------------------------------------------------------------------------------

def cpu_snapshot():
    """(wall s, CPU s of this process, busy CPU s of the whole machine or None)."""
    machine = None
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        machine = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), t.user + t.system, machine


def other_load(before, after):
    """CPUs busy with OTHER processes between two snapshots, on average (None if unknown)."""
    if before[2] is None or after[2] is None:
        return None
    wall = after[0] - before[0]
    others = (after[2] - before[2]) - (after[1] - before[1])
    return max(0.0, others / wall) if wall > 0 else None


def load_average():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def timing_conditions(before, after):
    """What else ran between two :func:`cpu_snapshot` s (the ``timing_conditions`` of the JSON)."""
    wall = after[0] - before[0]
    return {"other_processes_cpus": other_load(before, after),
            "timing_wall_s": wall,
            "this_process_cpus": (after[1] - before[1]) / wall if wall > 0 else None,
            "load_average_after_timing": load_average()}


#: Above this many CPUs kept busy by other processes, a measurement is marked NOISY.
NOISY_CPUS = 0.2


def is_noisy(conditions):
    busy = conditions.get("other_processes_cpus")
    return busy is not None and busy > NOISY_CPUS


# ----------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------

def repetitions(rounds):
    """Calls per (variant, input): fast variants every round, slow ones a subset."""
    fast = max(3, rounds)
    slow = min(fast, max(3, math.ceil(fast / 6)))
    return fast, slow


def sample_stats(ts, n_images, first_call_s=float("nan")):
    """Median / min / max / IQR of a list of call times (seconds) of a batch of ``n_images``."""
    ts = np.asarray(ts, dtype=np.float64)
    q1, med, q3 = np.percentile(ts, [25, 50, 75])
    return {
        "median_s": float(med),
        "min_s": float(ts.min()),
        "max_s": float(ts.max()),
        "iqr_s": float(q3 - q1),
        "n": int(ts.size),
        "images_per_s": float(n_images / med),
        "first_call_s": float(first_call_s),
        "samples_s": [float(v) for v in ts],
    }


def time_round_robin(calls, inputs, rounds, warmup, slow=(), first_call=None, n_images=None):
    """Warm up, then time the callables round-robin; per-input, per-name statistics.

    Parameters
    ----------
    calls : dict
        ``{name: call}``; ``call(inp)`` runs one batch.
    inputs : dict
        ``{key: inp}`` (bench_fc: one entry per batch size).  In every round each name
        runs once on each input, in an order rotated from round to round.
    rounds : int
        Rounds (at least 3).  Names in ``slow`` run in ``repetitions(rounds)[1]`` of
        them, spread evenly over the run.
    warmup : int
        Calls per name and input before timing (names in ``slow``: 1; they are assumed
        to have been called once already).
    first_call : dict, optional
        ``{key: {name: seconds}}`` of the first calls (made elsewhere); only reported.
    n_images : dict, optional
        ``{key: images per call}`` for ``images_per_s``; default: the key itself.

    Returns
    -------
    dict
        ``{str(key): {name: sample_stats(...)}}``.
    """
    names = list(calls)
    fast, n_slow = repetitions(rounds)
    slow_rounds = set(np.unique(np.round(np.linspace(0, fast - 1, n_slow)).astype(int)).tolist())
    first_call = first_call or {}
    n_images = n_images or {key: key for key in inputs}
    for key, inp in inputs.items():
        for name in names:
            for _ in range(1 if name in slow else warmup):  # slow ones: 1 (they are traced already)
                calls[name](inp)
    samples = {key: {name: [] for name in names} for key in inputs}
    for r in range(fast):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate the order every round
        for key, inp in inputs.items():
            for name in order:
                if name in slow and r not in slow_rounds:
                    continue
                call = calls[name]
                t0 = time.perf_counter()
                call(inp)
                samples[key][name].append(time.perf_counter() - t0)
    return {str(key): {name: sample_stats(ts, n_images[key], first_call.get(key, {}).get(name, float("nan")))
                       for name, ts in per.items()}
            for key, per in samples.items()}


def ratios_of_medians(timing, spec):
    """``{key: {label: median(a) / median(b)}}`` for ``spec`` = ``[(label, a, b), ...]`` (None if missing)."""
    out = {}
    for key, per in timing.items():
        out[key] = {label: (per[a]["median_s"] / per[b]["median_s"] if a in per and b in per else None)
                    for label, a, b in spec}
    return out


# ----------------------------------------------------------------------------------------
# Peak memory (meant to run in a subprocess of its own)
# ----------------------------------------------------------------------------------------

def status_kb(field):
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def ru_maxrss_kb():
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value  # bytes on macOS, KiB on Linux


def _mib(kb):
    return None if kb is None else kb / 1024.0


METHOD_HWM = "VmHWM after reset via /proc/self/clear_refs"
METHOD_FALLBACK = "ru_maxrss growth (fallback)"


def measure_memory(call, inp, calls):
    """Peak RSS growth of the first call (incl. tracing) and of ``calls`` warm calls, in MiB."""
    gc.collect()
    rss0, ru0 = status_kb("VmRSS"), ru_maxrss_kb()
    can_reset = reset_peak()
    t0 = time.perf_counter()
    call(inp)
    first_s = time.perf_counter() - t0
    hwm_first = status_kb("VmHWM")
    gc.collect()
    rss1 = status_kb("VmRSS")
    reset_peak()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call(inp)
        times.append(time.perf_counter() - t0)
    hwm_steady = status_kb("VmHWM")
    ru1 = ru_maxrss_kb()
    ok = can_reset and None not in (rss0, rss1, hwm_first, hwm_steady)
    return {
        "method": METHOD_HWM if ok else METHOD_FALLBACK,
        "steady_peak_growth_mib": _mib(hwm_steady - rss1) if ok else _mib(ru1 - ru0),
        "first_call_peak_growth_mib": _mib(hwm_first - rss0) if ok else None,
        "rss_before_mib": _mib(rss0),
        "ru_maxrss_before_mib": _mib(ru0),
        "ru_maxrss_after_mib": _mib(ru1),
        "ru_maxrss_growth_mib": _mib(ru1 - ru0),
        "calls": int(calls),
        "first_call_s": first_s,
        "median_s": float(np.median(times)) if times else None,
    }


class peak_tracker:  # noqa: N801 - used like a function: ``with peak_tracker() as peak:``
    """Context manager: peak RSS growth of whatever runs inside it.

    On entry it reads ``VmRSS`` and resets ``VmHWM`` (``/proc/self/clear_refs``); on exit
    it fills ``self.result`` with ``peak_growth_mib`` (``VmHWM`` - RSS at entry),
    ``rss_before_mib``, ``rss_after_mib``, ``peak_rss_mib`` and ``method`` (falling back to
    the ``ru_maxrss`` growth where the reset is not available).
    """

    def __enter__(self):
        gc.collect()
        self.rss0, self.ru0 = status_kb("VmRSS"), ru_maxrss_kb()
        self.can_reset = reset_peak()
        self.t0 = time.perf_counter()
        self.result = {}
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.t0
        hwm, rss1, ru1 = status_kb("VmHWM"), status_kb("VmRSS"), ru_maxrss_kb()
        ok = self.can_reset and None not in (self.rss0, hwm)
        self.result = {
            "method": METHOD_HWM if ok else METHOD_FALLBACK,
            "peak_growth_mib": _mib(hwm - self.rss0) if ok else _mib(ru1 - self.ru0),
            "rss_before_mib": _mib(self.rss0),
            "rss_after_mib": _mib(rss1),
            "peak_rss_mib": _mib(hwm) if ok else _mib(ru1),
            "ru_maxrss_before_mib": _mib(self.ru0),
            "ru_maxrss_after_mib": _mib(ru1),
            "seconds": seconds,
        }
        return False


def run_json_child(cmd, mark, cwd=ROOT, timeout=None, env=None, echo=False):
    """Run ``cmd``; return the JSON object of its last stdout line starting with ``mark``.

    With ``echo`` the child's other stdout lines are printed as they come and its stderr is
    this process's (long children show their progress; ``timeout`` is then not applied).  On
    failure (exit status, no such line, time-out) returns ``{"error": ...}`` with the end of
    its output.
    """
    if echo:
        out = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=cwd, env=env) as proc:
            for line in proc.stdout:
                out.append(line)
                if not line.startswith(mark):
                    print(line, end="", flush=True)
        code, stdout, stderr = proc.returncode, "".join(out), ""
    else:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return {"error": f"subprocess timed out after {timeout} s: {out[-2000:]}"}
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    lines = [line for line in stdout.splitlines() if line.startswith(mark)]
    if code != 0 or not lines:
        tail = (stderr or stdout)[-2000:]
        return {"error": f"subprocess exited with {code}: {tail}"}
    return json.loads(lines[-1][len(mark):])


def print_json_line(mark, obj):
    """What a measuring child prints for :func:`run_json_child`."""
    print(mark + json.dumps(obj), flush=True)


# ----------------------------------------------------------------------------------------
# Machine and software
# ----------------------------------------------------------------------------------------

def machine_info():
    import keras
    import tensorflow as tf

    cpu_model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "load_average_at_start": load_average(),
        "snnmap": snnmap_version(),
    }


def snnmap_version():
    """snnmap's version, git commit and whether snnmap/ has uncommitted changes (None if unknown)."""
    import snnmap

    info = {"version": getattr(snnmap, "__version__", None), "commit": None, "snnmap_dirty": None}
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10, check=True).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--", "snnmap"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout
        info["snnmap_dirty"] = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_lines(mc):
    """The ``machine :`` and ``software :`` lines of a report."""
    sv = mc["snnmap"]
    dirty = {True: " + uncommitted changes in snnmap/", False: "", None: ""}[sv["snnmap_dirty"]]
    return [
        f"machine  : os.cpu_count() = {mc['cpu_count']}, platform.processor() = {mc['processor']!r}"
        f" (/proc/cpuinfo: {mc['cpu_model']}), {mc['platform']}",
        f"software : Python {mc['python']}, TensorFlow {mc['tensorflow']}, Keras {mc['keras']}, "
        f"NumPy {mc['numpy']}, snnmap {sv['version']} (commit {sv['commit']}{dirty})",
    ]


def load_line(mc, nz, what="the timed rounds"):
    """The ``load :`` line: load average at start and the CPUs other processes kept busy."""
    load = ", ".join(f"{v:.2f}" for v in mc["load_average_at_start"] or [])
    busy = nz["other_processes_cpus"]
    this = nz["this_process_cpus"]
    return (f"load     : load average at start {load}; during {what} ({nz['timing_wall_s']:.0f} s) "
            "other processes kept "
            + (f"{busy:.2f}" if busy is not None else "?") + f" of {mc['cpu_count']} CPUs busy on average, "
            f"this one " + (f"{this:.2f}" if this is not None else "?")
            + ("  << NOISY: timings are inflated / variable" if is_noisy(nz) else ""))


# ----------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------

def target(value, limit, at_most=True):
    """``{"value", "met"}``: ``value <= limit`` (``at_most``) or ``value >= limit``; None is not met."""
    if value is None:
        return {"value": None, "met": False}
    return {"value": value, "met": bool(value <= limit if at_most else value >= limit)}


def met_text(met):
    return "met" if met else "NOT MET"


def atomic_write_json(path, obj):
    """Write ``obj`` as JSON to a temporary file next to ``path``, then rename it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1, allow_nan=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
