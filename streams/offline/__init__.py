"""The offline drivers and tools: replay of event files, the simulator, reports, JSON Schemas."""
