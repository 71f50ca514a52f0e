"""Observing servers: what is actually deployed, read without changing anything."""
