"""Tools: the registry, the executor (the only way anything runs a tool) and approvals."""
