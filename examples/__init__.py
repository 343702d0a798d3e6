"""Example apps deployed next to stepauth."""
