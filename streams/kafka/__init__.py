"""The Kafka driver: the Faust worker, its runtime over raw records, topics and observability."""
