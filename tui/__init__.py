"""tracemon."""
