"""The README and docs/: short, links that lead somewhere, and a walk-through that says true."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from streams.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


def walk_through() -> list[str]:
    """The commands of the README's "Running on Kafka" block, comments and `\\` joined."""
    text = README.read_text()
    part = text[text.index("## Running on Kafka"):]
    block = part[part.index("```sh\n") + 6:]
    block = block[:block.index("```\n")].replace("\\\n", " ")
    return [re.split(r"\s+# ", line)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_is_a_short_user_document() -> None:
    text = README.read_text()
    assert len(text) <= 12_000, f"README.md is {len(text):,} characters; move detail to docs/"
    headings = re.findall(r"(?m)^#+ (.+)$", text)
    for needed in ("Quick start", "Running on Kafka", "Outputs and their contracts",
                   "Settings (environment)", "Operations", "Read more"):
        assert needed in headings, f"README has no section {needed!r}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: link to missing {target}"


def test_the_walk_through_resets_broker_and_worker_state_together() -> None:
    steps = walk_through()
    assert steps[0] == "deploy/kafka/start.sh"
    assert "deploy/kafka/stop.sh --wipe" in steps[-1] and "rm -rf .state" in steps[-1]


def test_the_walk_through_feed_gives_what_the_readme_says(tmp_path: Path) -> None:
    """Its feed, replayed offline (the Kafka tier checks that the worker agrees), has the
    event count, the alert count and the seller in breach that the README names."""
    text = README.read_text()
    steps = walk_through()
    feed = next(s for s in steps if " simulate --to kafka " in s)
    argv = shlex.split(feed.replace(" --to kafka", ""))[1:]
    events = tmp_path / "events.ndjson"
    assert main([*argv, "--out", str(events)]) == 0
    out = {k: tmp_path / f"{k}.json" for k in ("alerts", "metrics", "dead-letters")}
    assert main(["replay", str(events), *(x for k, p in out.items() for x in (f"--{k}", str(p)))
                 ]) == 0
    count = sum(1 for _ in events.open())
    alerts = out["alerts"].read_text().splitlines()
    block = text[text.index("## Running on Kafka"):text.index("### With Docker")]
    assert f"{count:,} events" in block, f"the feed makes {count:,} events"
    assert f"--max-messages {len(alerts)}" in block and f"same {len(alerts)} alerts" in block
    seller = re.search(r"/sellers/(S\d+)", next(s for s in steps if s.startswith("curl")))
    assert seller
    breached = [a for line in alerts if (a := json.loads(line))["seller_id"] == seller.group(1)
                and a["metric"] == "cancel_rate_7d" and a["status"] == "breach"]
    assert breached, "the README says this seller breached its cancel rate"
