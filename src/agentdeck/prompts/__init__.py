"""The prompt registry: immutable versions, movable and protected labels, diff, rendering,
and the resolver the gateway serves prompt references from."""
