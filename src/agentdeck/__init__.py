"""agentdeck: the platform around the model that takes LLM agents from demo to production."""

from __future__ import annotations

__version__ = "0.1.0"
