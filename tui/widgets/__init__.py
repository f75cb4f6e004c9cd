"""Widgets of the fleet TUI, one per module."""
