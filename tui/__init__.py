"""Fleet TUI (cardwatch.tui): a Textual app over the fleet model."""
