"""State at scale: a RocksDB worker and the engine alone on many sellers; 1,000,000 extrapolated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backlog import Backlog
from .harness import ROOT, end_offsets, log, topic_set
from .throughput import too_large, worker_backlog

if TYPE_CHECKING:
    from .run import Sizes


def state_in_process(path: Path) -> dict[str, Any]:
    """bench/state_scale.py in a fresh process."""
    done = subprocess.run([sys.executable, str(ROOT / "bench/state_scale.py"), str(path)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {"error": done.stderr[-800:]}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def state_scale(bootstrap: str, prefix: str, tmp: Path, data_dir: Path, z: Sizes,
                backlog: Backlog, max_message_bytes: int, evict: str) -> dict[str, Any]:
    """A RocksDB worker and the engine alone on many sellers with few orders each."""
    out: dict[str, Any] = {}
    if z.scale_sellers:
        scale = Backlog.make(data_dir, z.scale_sellers, z.scale_days,
                             z.scale_orders_per_seller_day)
        s = topic_set(bootstrap, f"{prefix}-sc", f"{prefix}-sc")
        log(f"state at scale: producing {scale.path.name}")
        out["backlog"] = scale.load(s)
        out["backlog"].update({"sellers_simulated": z.scale_sellers, "days": z.scale_days,
                               "orders_per_seller_day": z.scale_orders_per_seller_day})
        ends = end_offsets(s, list(s.input_topics))
        log("state at scale: worker, rocksdb://")
        # Restarted too: a restored worker holds the state without what the running one
        # freed but kept, so the two restores give a steadier bytes-per-seller figure.
        w = worker_backlog(s, f"{prefix}-scw", "rocksdb://", tmp, ends, timeout_s=z.timeout_s,
                           evict=evict, restart=True)
        if too_large(w) and max_message_bytes:
            log("state at scale: crashed on a table record over 1 MB; again, allowing "
                f"records up to {max_message_bytes:,} bytes")
            retry = worker_backlog(s, f"{prefix}-scwb", "rocksdb://", tmp, ends,
                                   timeout_s=z.timeout_s, max_message_bytes=max_message_bytes,
                                   evict=evict, restart=True)
            retry["as_shipped"] = w
            w = retry
        out["worker_rocksdb"] = w
        log("state at scale: engine alone")
        out["engine"] = state_in_process(scale.path)
        if z.heavy_sellers:
            heavy = scale.with_heavy(data_dir, z.heavy_sellers, z.heavy_days,
                                     z.heavy_orders_per_seller_day)
            h = topic_set(bootstrap, f"{prefix}-sh", f"{prefix}-sh")
            log(f"state at scale, plus {z.heavy_sellers:,} sellers with {z.heavy_days} days: "
                f"producing {heavy.path.name}")
            out["heavy_backlog"] = heavy.load(h)
            out["heavy_backlog"].update({
                "heavy_sellers": z.heavy_sellers, "heavy_days": z.heavy_days,
                "heavy_orders_per_seller_day": z.heavy_orders_per_seller_day})
            log("state at scale, plus the heavy sellers: worker, rocksdb://")
            out["heavy_worker_rocksdb"] = worker_backlog(
                h, f"{prefix}-shw", "rocksdb://", tmp, end_offsets(h, list(h.input_topics)),
                timeout_s=z.timeout_s, max_message_bytes=max_message_bytes, restart=True,
                evict=evict)
            log("state at scale, plus the heavy sellers: engine alone (holding every object)")
            out["heavy_engine"] = state_in_process(heavy.path)
    log("state of the throughput backlog: engine alone")
    out["engine_backlog"] = state_in_process(backlog.path)
    return out


def extrapolate(r: dict[str, Any]) -> dict[str, Any] | None:
    """1,000,000 sellers all with state, 0.1 %, 1 % or 10 % of them with 90 days of orders.

    From the worker's RSS measured twice: on the scale backlog (bytes per seller with
    state), and on it plus the heavy sellers (bytes per heavy seller, the difference).
    Results from before the heavy run (2026-11-27) use `extrapolate_engine`.
    """
    st = r.get("state", {})
    a, b, hb = st.get("worker_rocksdb"), st.get("heavy_worker_rocksdb"), st.get("heavy_backlog")
    if not (a and a.get("completed") and b and b.get("completed") and hb):
        return extrapolate_engine(r)
    sellers, days = a["worker"]["sellers"], hb["heavy_days"]

    def estimate(light_rss: int, light_base: int, heavy_rss: int) -> tuple[
            float, float, dict[str, float]]:
        light = (light_rss - light_base) / sellers
        heavy = (heavy_rss - light_rss) / hb["heavy_sellers"]
        return light, heavy, {f"{frac:.1%}": light_base + 1_000_000 * (
            (1 - frac) * light + frac * heavy) for frac in (0.0, 0.001, 0.01, 0.1)}

    def said(light: float, heavy: float, est: dict[str, float]) -> str:
        return (f"{light:,.0f} B/seller, {heavy:,.0f} B/seller with {days} days: "
                + ", ".join(f"{k} with {days} days {v / 2**30:,.2f} GiB"
                            for k, v in est.items()))

    base = a.get("rss_at_start_bytes") or 0
    light, heavy, est = estimate(a["rss_bytes"], base, b["rss_bytes"])
    out = {
        "worker_rss_bytes_per_seller": light,
        "worker_rss_bytes_per_heavy_seller": heavy,
        "heavy_days": days,
        "heavy_orders_per_seller_day": hb["heavy_orders_per_seller_day"],
        "worker_rss_base_bytes": base,
        "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
        "summary": said(light, heavy, est),
    }
    ra, rb = a.get("restarted"), b.get("restarted")
    if ra and ra.get("completed") and rb and rb.get("completed"):
        # The same from two restored workers (no memory freed and kept by the allocator).
        light, heavy, est = estimate(ra["rss_bytes"], ra.get("rss_at_start_bytes") or 0,
                                     rb["rss_bytes"])
        out["restored"] = {"rss_bytes_per_seller": light, "rss_bytes_per_heavy_seller": heavy,
                           "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
                           "summary": said(light, heavy, est)}
    return out


def extrapolate_engine(r: dict[str, Any]) -> dict[str, Any] | None:
    """1,000,000 sellers, from bytes per seller and per open object, measured twice.

    The engine alone ran on two compositions (many sellers with few objects; fewer sellers
    with many): two equations give its resident bytes per seller and per open object. The
    worker's RSS on the first, over the engine's, gives the worker's overhead factor. A
    seller with 90 days of orders at 8 a day holds as many open objects as bench_engine.py's
    sellers do.
    """
    st = r.get("state", {})
    sw, a, b = st.get("worker_rocksdb"), st.get("engine"), st.get("engine_backlog")
    eng = r.get("engine") or {}
    if not (sw and sw.get("completed") and a and b) or "error" in a or "error" in b:
        return None
    s1, o1, m1 = a["sellers"], a["open_objects"], a["rss_delta_bytes"]
    s2, o2, m2 = b["sellers"], b["open_objects"], b["rss_delta_bytes"]
    det = s1 * o2 - s2 * o1
    if not det:
        return None
    per_seller = (m1 * o2 - m2 * o1) / det
    per_object = (s1 * m2 - s2 * m1) / det
    base = sw.get("rss_at_start_bytes") or 0
    overhead = (sw["rss_bytes"] - base) / m1 if m1 else 1.0
    few = o1 / s1  # open objects of a seller in the scale backlog
    heavy = (eng.get("open_objects", 0) / eng["sellers"]) if eng.get("sellers") else 0.0
    est = {}
    for frac in (0.0, 0.01, 0.1):
        objects = 1_000_000 * ((1 - frac) * few + frac * heavy)
        est[f"{frac:.0%}"] = base + overhead * (1_000_000 * per_seller + objects * per_object)
    return {
        "engine_rss_bytes_per_seller": per_seller,
        "engine_rss_bytes_per_open_object": per_object,
        "worker_rss_over_engine": overhead,
        "worker_rss_base_bytes": base,
        "open_objects_per_seller_few_orders": few,
        "open_objects_per_seller_90_days": heavy,
        "rss_bytes_for_1m_sellers_by_90_day_fraction": est,
        "summary": f"{per_seller:,.0f} B/seller + {per_object:,.0f} B/open object, worker "
                   f"x{overhead:.1f}: " + ", ".join(
                       f"{k} with 90 days {v / 2**30:,.1f} GiB" for k, v in est.items()),
    }
