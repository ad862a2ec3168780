"""Question answering over a document collection with citations verified by code."""

__version__ = "0.1.0"
