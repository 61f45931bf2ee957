"""The govflow command line."""
