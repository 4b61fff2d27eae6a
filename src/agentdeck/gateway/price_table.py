"""List prices of common models, in USD per million tokens, shipped with agentdeck.

A deployment that sets no prices takes them from here by its upstream model name (an exact
name, else the longest known prefix, so dated snapshots such as `gpt-4o-2024-08-06` match);
`gateway.prices` in the config adds or overrides entries. Providers change prices: check
these against your contract, and set prices per deployment where they differ.
Columns: input, output, cached input (cache read), cache write.
"""

from __future__ import annotations

from decimal import Decimal

PriceRow = tuple[str, str, str | None, str | None]

# Published list prices as of the table's last update (2026-11); (input, output, read, write).
SHIPPED: dict[str, PriceRow] = {
    # OpenAI
    "gpt-5": ("1.25", "10", "0.125", None),
    "gpt-5-mini": ("0.25", "2", "0.025", None),
    "gpt-5-nano": ("0.05", "0.4", "0.005", None),
    "gpt-4.1": ("2", "8", "0.5", None),
    "gpt-4.1-mini": ("0.4", "1.6", "0.1", None),
    "gpt-4.1-nano": ("0.1", "0.4", "0.025", None),
    "gpt-4o": ("2.5", "10", "1.25", None),
    "gpt-4o-mini": ("0.15", "0.6", "0.075", None),
    "o3": ("2", "8", "0.5", None),
    "o3-mini": ("1.1", "4.4", "0.55", None),
    "o4-mini": ("1.1", "4.4", "0.275", None),
    "text-embedding-3-small": ("0.02", "0", None, None),
    "text-embedding-3-large": ("0.13", "0", None, None),
    # Anthropic (cache write: the 5-minute cache)
    "claude-opus-4-1": ("15", "75", "1.5", "18.75"),
    "claude-opus-4": ("15", "75", "1.5", "18.75"),
    "claude-sonnet-4-5": ("3", "15", "0.3", "3.75"),
    "claude-sonnet-4": ("3", "15", "0.3", "3.75"),
    "claude-3-7-sonnet": ("3", "15", "0.3", "3.75"),
    "claude-haiku-4-5": ("1", "5", "0.1", "1.25"),
    "claude-3-5-haiku": ("0.8", "4", "0.08", "1"),
    # Google (prompts up to 200k tokens)
    "gemini-2.5-pro": ("1.25", "10", "0.31", None),
    "gemini-2.5-flash": ("0.3", "2.5", "0.075", None),
    "gemini-2.5-flash-lite": ("0.1", "0.4", "0.025", None),
    "gemini-2.0-flash": ("0.1", "0.4", "0.025", None),
}


def lookup(model: str, table: dict[str, PriceRow]) -> PriceRow | None:
    """The row for `model`: an exact name, else the longest name it starts with."""
    if model in table:
        return table[model]
    best = max((name for name in table if model.startswith(name + "-")), key=len, default=None)
    return table[best] if best is not None else None


def as_prices(row: PriceRow) -> dict[str, Decimal | None]:
    """A row as DeploymentSettings price fields."""
    read, write = row[2], row[3]
    return {
        "input_price": Decimal(row[0]),
        "output_price": Decimal(row[1]),
        "cached_input_price": Decimal(read) if read is not None else None,
        "cache_write_price": Decimal(write) if write is not None else None,
    }
