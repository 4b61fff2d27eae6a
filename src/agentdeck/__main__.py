"""`python -m agentdeck` runs the CLI."""

from agentdeck.cli import main

main()
