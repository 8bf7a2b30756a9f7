"""The pure engine: events, facts, metrics, day buckets, alerts, the clock. No Kafka, no I/O."""
