"""A dict as the engine's cold store, written the way the worker writes its table."""

from __future__ import annotations

from streams.core.checkpoint import decode_facts, encode_facts
from streams.core.engine import Engine
from streams.core.facts import Facts
from streams.core.metrics import Kind


class DictCold:
    """Takes an engine's changed objects after each batch, then lets it evict them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.blobs: dict[tuple[str, Kind, str], bytes] = {}
        self.evicted = 0
        self.written = 0
        engine.track_writes = True
        engine.cold = self.load

    def load(self, seller_id: str, kind: Kind, key: str) -> Facts | None:
        blob = self.blobs.get((seller_id, kind, key))
        return None if blob is None else decode_facts(kind, blob)

    def settle(self, everything: bool = False, waiting: bool = False) -> int:
        """Write what changed; evict what changed or was read back (or, `everything`, every
        object held) that waits for no deadline (or, `waiting`, any). How many were."""
        engine = self.engine
        for object_id, facts in engine.dirty_objects.items():
            if facts is None:
                self.blobs.pop(object_id, None)
            else:
                self.blobs[object_id] = encode_facts(facts)
                self.written += 1
        if everything:
            evicted = engine.evict(engine.held(), waiting)
            engine.loaded.clear()
        else:
            evicted = engine.evict_written(waiting)
        engine.dirty_objects.clear()
        engine.dirty_sellers.clear()
        self.evicted += evicted
        return evicted

    def check_evicted(self, waiting: bool) -> None:
        """After a last `settle`: the store was used, and (`waiting`: every object may go)
        nothing written is still held."""
        if not self.written:
            return
        if waiting:
            assert self.evicted > 0, f"{self.written} objects written, none evicted"
            held = self.engine.held()
            assert not held, f"{len(held)} objects still held, e.g. {held[:3]}"
