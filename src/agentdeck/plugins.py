"""Extension points found through Python entry points: providers, guardrails, span exporters.

The built-ins are listed here the way a third party lists theirs in its package metadata
(`[project.entry-points."agentdeck.guardrails"]`), and a third-party entry of the same name
takes the built-in's place.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from agentdeck.errors import ConfigurationError


@cache
def _targets(group: str, builtins: tuple[tuple[str, str], ...]) -> dict[str, str]:
    found = dict(builtins)
    for entry in entry_points(group=group):
        found[entry.name] = entry.value
    return found


def plugin_names(group: str, builtins: dict[str, str]) -> list[str]:
    """Every name registered in `group`, the built-ins included."""
    return sorted(_targets(group, tuple(builtins.items())))


def load_plugin(group: str, builtins: dict[str, str], name: str, where: str, kind: str) -> Any:
    """The object registered as `name` in `group`; an unknown name, or one whose target does
    not import, is a configuration error naming `where` it was asked for (`kind`: what the
    group holds, for the message)."""
    target = _targets(group, tuple(builtins.items())).get(name)
    if target is None:
        known = ", ".join(plugin_names(group, builtins))
        raise ConfigurationError(f"{where}: unknown {kind} {name!r}; known: {known}")
    module_name, _, attr = target.partition(":")
    try:
        return getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"{where}: {name!r} ({target}) cannot be loaded: {exc}") from exc


def forget_plugins() -> None:
    """Read the entry points again on the next look-up (after packages were installed)."""
    _targets.cache_clear()
