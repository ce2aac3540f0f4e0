"""engine/runners."""
