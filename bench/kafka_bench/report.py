"""The table of a run (and its JSON): rates, ratios to the raw consumer, state, peers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .harness import MOST, fmt, fmt_load, fmt_mib, table
from .state import extrapolate


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    """Worker and Quix rates against the raw consumer, and ours against Quix."""
    def rate(*path: str) -> float | None:
        node: Any = r
        for p in path:
            if not isinstance(node, dict) or p not in node:
                return None
            node = node[p]
        return float(node) if isinstance(node, int | float) and node else None

    raw = rate("raw_aiokafka", "events_per_s")
    perf = rate("consumer_perf", "events_per_s")
    q = rate("quix", "events_per_s")
    out: dict[str, float | None] = {
        "raw_aiokafka_to_broker": raw / perf if raw and perf else None}
    for store in r.get("worker", {}):
        w = rate("worker", store, "events_per_s")
        out[f"worker_{store}_to_raw_aiokafka"] = w / raw if w and raw else None
        out[f"worker_{store}_to_quix"] = w / q if w and q else None
        most = rate("worker", store, "events_per_s_to_most")
        out[f"worker_{store}_to_most_to_raw_aiokafka"] = most / raw if most and raw else None
    out["quix_to_raw_aiokafka"] = q / raw if q and raw else None
    ack = rate("faust_ack", "events_per_s")
    out["faust_ack_to_raw_aiokafka"] = ack / raw if ack and raw else None
    return out


Row = tuple[str, str, str]
"""(measure, result, load average 1/5/15 min at its start)."""


def rows(r: dict[str, Any]) -> list[Row]:
    """The table's rows, part by part in the order they run."""
    return (_limit_rows(r) + _worker_rows(r) + _latency_rows(r) + _state_rows(r)
            + _peer_rows(r))


def _limit_rows(r: dict[str, Any]) -> list[Row]:
    """The backlog, 1 the limits and 2 the engine alone."""
    out: list[Row] = []
    b = r.get("backlog", {})
    out.append(("backlog: events / sellers / MB",
                f"{b.get('events', 0):,} / {b.get('sellers', 0):,} / "
                f"{b.get('bytes', 0) / 1e6:,.0f}", ""))
    out.append(("  produced (aiokafka, acks=all)", fmt(b.get("produce_events_per_s"),
                                                        " events/s"), ""))
    cp = r.get("consumer_perf")
    if cp:
        if "error" in cp:
            out.append(("1a broker: ConsumerPerformance", "error: " + cp["error"][:60], ""))
        else:
            out.append(("1a broker: ConsumerPerformance",
                        f"{cp['events_per_s']:,.0f} events/s, {cp['mb_per_s']:,.1f} MB/s",
                        fmt_load(cp.get("load_before"))))
    raw = r.get("raw_aiokafka")
    if raw:
        out.append(("1b raw aiokafka + orjson.loads", fmt(raw.get("events_per_s"), " events/s"),
                    fmt_load(raw.get("load_before"))))
    for mode, what in (("stream", "1c Faust agent doing nothing: take_events(2000)"),
                       ("fetch", "1d the same, whole fetches (streams.kafka.fetching)"),
                       ("ack", "1e 1d + orjson.loads and Faust ack per record")):
        f = r.get(f"faust_{mode}")
        if f:
            result = ("error: " + f["error"][:60] if "error" in f else
                      fmt(f["events_per_s"], " events/s"))
            if mode == "ack" and "error" not in f:
                result += (f" = {fmt(r.get('ratios', {}).get('faust_ack_to_raw_aiokafka'), '', 3)}"
                           " x raw")
            out.append((what, result, fmt_load(f.get("load_before"))))
    e = r.get("engine")
    if e:
        if "error" in e:
            out.append(("2  engine", "error", ""))
        else:
            ld = fmt_load(e.get("load_before"))
            out.append((f"2  engine: decode + validate ({e['events']:,} events)",
                        fmt(e["decode_validate_events_per_s"], " events/s"), ld))
            out.append(("2  engine: apply (sorted)", fmt(e["apply_events_per_s"], " events/s"),
                        ld))
            out.append(("2  engine: file -> alerts, one core",
                        fmt(e["end_to_end_events_per_s"], " events/s"), ld))
    return out


def _worker_rows(r: dict[str, Any]) -> list[Row]:
    """3 the workers end to end (and the profiled one)."""
    out: list[Row] = []
    ratio = r.get("ratios", {})
    for store, w in r.get("worker", {}).items():
        label = (f"3  {w['processes']} workers {w['store']}" if "processes" in w
                 else f"3  worker {store}://")
        shipped = w.get("as_shipped")
        if shipped:
            out.append((label + " as shipped", failure(shipped),
                        fmt_load(shipped.get("load_before"))))
            label += f" records <= {w['max_message_bytes'] >> 20} MiB"
        if not w.get("completed"):
            out.append((label, failure(w), fmt_load(w.get("load_before"))))
            continue
        out.append((label + " (from first commit)",
                    f"{w['events_per_s']:,.0f} events/s = "
                    f"{fmt(ratio.get(f'worker_{store}_to_raw_aiokafka'), '', 4)} x raw",
                    fmt_load(w.get("load_before"))))
        if w.get("repeats"):
            rates = sorted(float(x["events_per_s"]) for x in w["repeats"])
            out.append((label + " runs", f"median of {len(rates)}: "
                        f"{', '.join(f'{v:,.0f}' for v in rates)} events/s", ""))
        if w.get("events_per_s_to_most"):
            out.append((label + f" (to {100 * MOST:g} % committed)",
                        f"{w['events_per_s_to_most']:,.0f} events/s = "
                        f"{fmt(ratio.get(f'worker_{store}_to_most_to_raw_aiokafka'), '', 4)}"
                        f" x raw; the rest {w['tail_s']:.1f} s (idle flush)", ""))
        out.append((label + " (from process start)",
                    f"{w['events_per_s_from_start']:,.0f} events/s "
                    f"(startup {w['startup_to_first_commit_s']:.1f} s)", ""))
        out.append((label + " CPU", f"{w['events_per_cpu_s']:,.0f} events per CPU-s", ""))
        stages = _stages(w)
        if stages:
            out.append((label + " wall time", stages, ""))
        out.append((label + " RSS / data dir",
                    f"{fmt_mib(w['rss_bytes'])} / {fmt_mib(w['data_dir_bytes'])}", ""))
        if "partitions_per_worker" in w:
            out.append((label + " partitions each",
                        " / ".join(map(str, w["partitions_per_worker"])), ""))
    wp = r.get("worker_profiled")
    if wp:
        rate = wp.get("events_per_s") or wp.get("events_per_s_partial")
        out.append((f"   worker {wp.get('store')} under py-spy", fmt(rate, " events/s"),
                    fmt_load(wp.get("load_before"))))
    return out


def _latency_rows(r: dict[str, Any]) -> list[Row]:
    """4 alert latency."""
    out: list[Row] = []
    lat = r.get("latency")
    if lat:
        # batch_within_s: results from before 2026-11-27 (batches filled by Faust's stream)
        within = f", batch {lat['batch_within_s']} s" if "batch_within_s" in lat else ""
        out.append((f"4  alert latency at {lat['sent_events_per_s']:,.0f} events/s "
                    f"(lateness {lat['allowed_lateness_ms']} ms{within})",
                    f"p50 {fmt(lat['p50_ms'], ' ms')}, p99 {fmt(lat['p99_ms'], ' ms')}, "
                    f"max {fmt(lat['max_ms'], ' ms')} ({lat['alerted']}/{lat['bursts']} "
                    f"alerted)", fmt_load(lat.get("load_before"))))
    return out


def _state_rows(r: dict[str, Any]) -> list[Row]:
    """5 state at scale and its extrapolation to 1,000,000 sellers."""
    out: list[Row] = []
    st = r.get("state", {})
    sw = st.get("worker_rocksdb")
    if sw and sw.get("completed"):
        sellers = sw["worker"].get("sellers") or 0
        base = sw.get("rss_at_start_bytes") or 0
        per = (sw["rss_bytes"] - base) / sellers if sellers else None
        evict = f" (evict {sw['evict']})" if "evict" in sw else ""
        out.append((f"5  worker rocksdb{evict}, {sellers:,.0f} "
                     f"sellers, {_objects(sw['worker'])}",
                    f"RSS {fmt_mib(sw['rss_bytes'])} ({fmt(per, ' B')}/seller), disk "
                    f"{fmt_mib(sw['data_dir_bytes'])}", fmt_load(sw.get("load_before"))))
        out += _restored_row(sw)
    hw, hb = st.get("heavy_worker_rocksdb"), st.get("heavy_backlog")
    if hw and hb:
        if hw.get("completed"):
            extra = (hw["rss_bytes"] - sw["rss_bytes"]) / hb["heavy_sellers"] if sw else None
            out.append((f"5  the same plus {hb['heavy_sellers']:,} sellers with "
                        f"{hb['heavy_days']} days ({_objects(hw['worker'])})",
                        f"RSS {fmt_mib(hw['rss_bytes'])} (+{fmt(extra, ' B')} per seller added), "
                        f"disk {fmt_mib(hw['data_dir_bytes'])}", fmt_load(hw.get("load_before"))))
        else:
            out.append((f"5  the same plus {hb['heavy_sellers']:,} sellers with "
                        f"{hb['heavy_days']} days", failure(hw), fmt_load(hw.get("load_before"))))
        out += _restored_row(hw)
    for key, label in (("engine", "5  engine alone, scale backlog"),
                       ("heavy_engine", "5  engine alone (every object held), plus heavy"),
                       ("engine_backlog", "5  engine alone, throughput backlog")):
        es = st.get(key)
        if es and "error" not in es:
            out.append((f"{label} ({es['sellers']:,} sellers)",
                        f"RSS +{fmt(es['rss_bytes_per_seller'], ' B')}/seller, objects "
                        f"{fmt(es['deep_size_bytes_per_seller'], ' B')}/seller", ""))
    ext = r.get("extrapolation")
    if ext:
        out.append(("5  1,000,000 sellers (extrapolated from the running workers)",
                    ext["summary"], ""))
        if "restored" in ext:
            out.append(("5  1,000,000 sellers (extrapolated from the restored workers)",
                        ext["restored"]["summary"], ""))
    return out


def _peer_rows(r: dict[str, Any]) -> list[Row]:
    """6 Quix Streams, and our worker against it."""
    out: list[Row] = []
    ratio = r.get("ratios", {})
    q = r.get("quix")
    if q:
        if "skipped" in q:
            out.append(("6  Quix Streams", "skipped: " + q["skipped"][:70], ""))
        elif not q.get("completed"):
            out.append(("6  Quix Streams", "did not finish", fmt_load(q.get("load_before"))))
        else:
            out.append((f"6  Quix Streams {q['version']} (orders+shipments, from first commit)",
                        f"{q['events_per_s']:,.0f} events/s", fmt_load(q.get("load_before"))))
            for store in ("memory", "rocksdb"):
                v = ratio.get(f"worker_{store}_to_quix")
                if v:
                    out.append((f"6  our worker ({store}://) / Quix", f"{v:.2f} x", ""))
    return out




def _objects(metrics: dict[str, float]) -> str:
    """Open objects, and how many of them in memory, from a worker's metrics."""
    held = metrics.get("open_objects_in_memory")
    return (f"{metrics.get('open_objects', 0):,.0f} open objects"
            + ("" if held is None else f", {held:,.0f} in memory"))


def failure(w: dict[str, Any]) -> str:
    """One line on why a worker run did not finish."""
    reason = ""
    for line in w.get("log_errors", []):
        size = re.search(r"The message is (\d+) bytes", line)
        if size:
            reason = f"MessageSizeTooLargeError: a {int(size.group(1)):,}-byte table record"
            break
        m = re.search(r"reason=(\w+)\((.{0,60})", line)
        if m and not reason:
            reason = f"{m.group(1)}: {m.group(2)}"
    return (f"CRASHED after {w.get('committed', 0):,} of {w.get('events', 0):,} events"
            f"{': ' + reason if reason else ''}")


def _restored_row(w: dict[str, Any]) -> list[Row]:
    """The table row of the worker restarted on a state-at-scale worker's state."""
    again = w.get("restarted")
    if again and again.get("completed"):
        return [("5  a new worker restoring that state (one record per partition)",
                 f"restored in {again['restore_s']:,.1f} s, RSS {fmt_mib(again['rss_bytes'])}"
                 f" (peak {fmt_mib(again['rss_peak_bytes'])})", "")]
    if again:
        return [("5  a new worker restoring that state",
                 "did not finish: " + again.get("error", "")[:60], "")]
    return []


def _stages(w: dict[str, Any]) -> str:
    """Where a worker's wall time went: its batch stages and the rest (waiting for input,
    startup, timers), in per cent of the time from process start."""
    m, wall = w.get("worker") or {}, w.get("seconds_from_start")
    if "compute_seconds" not in m or not wall:
        return ""  # results from before the stage counters (2026-11-28)
    parts = [(stage, m[f"{stage}_seconds"]) for stage in ("compute", "publish", "state")]
    parts.append(("other", wall - sum(v for _, v in parts)))
    return " / ".join(f"{name} {100 * v / wall:.0f} %" for name, v in parts)


def render(r: dict[str, Any], json_path: Path | None) -> None:
    """Print the table (and save the JSON)."""
    r["ratios"] = ratios(r)
    ext = extrapolate(r)
    if ext:
        r["extrapolation"] = ext
    g0, g1 = r.get("git_at_start", {}), r.get("git_at_end", {})
    changed = "" if g0 == g1 else f" (streams/ changed during the run: now {g1.get('head')}" \
                                  f" {' '.join(g1.get('streams_uncommitted', []))})"
    dirty = g0.get("streams_uncommitted")
    print(f"{r['machine']}; load average at start {fmt_load(r['load_at_start'])}, "
          f"at end {fmt_load(r['load_at_end'])}; {r.get('seconds', 0):.0f} s; code "
          f"{g0.get('head')}{' + uncommitted ' + ' '.join(dirty) if dirty else ''}{changed}")
    print(table(("measure", "result", "load 1/5/15"), rows(r)))
    prof = (r.get("worker_profiled") or {}).get("profile")
    if prof and "self" in prof:
        print(f"\nworker hot spots (py-spy, {prof['samples']:,} samples, self time):")
        for f, pct in prof["self"][:12]:
            print(f"  {pct:5.1f} %  {f}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(r, indent=2, default=str) + "\n")
        print(f"saved {json_path}")
