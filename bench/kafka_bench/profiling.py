"""A py-spy profile of a worker: flame graph, collapsed stacks, hot spots."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .harness import ROOT, log


def start_py_spy(pid: int, svg: Path, seconds: float) -> list[subprocess.Popen[bytes]]:
    """Two samplers: a flame graph (SVG) and collapsed stacks (for the hot spot table)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        log("py-spy not found: no profile (pip install py-spy)")
        return []
    svg.parent.mkdir(parents=True, exist_ok=True)
    procs = []
    for fmt, path in (("flamegraph", svg), ("raw", svg.with_suffix(".txt"))):
        procs.append(subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", "100", "--format", fmt,
             "--duration", str(int(seconds)), "--output", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def summarize_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of the hottest functions from py-spy's collapsed stacks."""
    if not raw.exists():
        return {"error": f"{raw} not written"}
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \((.*/)?([^/]+)\)$", r" (\2)", f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith(
            "thread ")]
        if frames:
            own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return {"error": "no samples"}
    return {
        "samples": total,
        "self": [(f, round(100 * n / total, 1)) for f, n in own.most_common(top)],
        "inclusive": [(f, round(100 * n / total, 1)) for f, n in incl.most_common(top * 3)],
        "collapsed": str(raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw),
    }
