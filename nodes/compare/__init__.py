"""`fal-avatar compare`: the same face and speech on several models (plan, run)."""
