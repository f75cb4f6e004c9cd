"""Screens of the fleet TUI."""
