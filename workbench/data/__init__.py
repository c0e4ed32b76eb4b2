"""Reference data files (see README.md here)."""
