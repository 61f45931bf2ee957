"""Demo people and work in progress for a laptop demo."""
