"""Many whole runs at once (the rows of a batch), with one shared concurrency limit."""
