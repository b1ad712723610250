"""arena: a reproducible LLM-as-judge Elo arena for medical language models."""

__version__ = "0.1.0"
