"""Real-time seller performance metrics and alerts from marketplace events."""

__version__ = "0.1.0"
