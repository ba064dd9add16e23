"""Many generations at once (long-form segments, batch rows, parallel nodes)."""
