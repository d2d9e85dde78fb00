"""MLflow prompt registry: roll a tampered prompt's serving alias back to the previous version and forward again."""
