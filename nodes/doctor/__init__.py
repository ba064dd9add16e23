"""The free health check of the fal key, fal's hosts and the endpoint rows (``fal-avatar doctor``)."""
