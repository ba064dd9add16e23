"""The endpoint rows, one module per model family (data only: no transport, no media)."""
