"""The identity-enabled app of the API tests, reused for the MCP endpoint."""

from tests.unit.api.conftest import open_deck

__all__ = ["open_deck"]
