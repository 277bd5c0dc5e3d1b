"""Collector training simulator: practise collection calls against an LLM-played debtor."""

__version__ = "0.1.0"
