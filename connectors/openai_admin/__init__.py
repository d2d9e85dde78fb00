"""OpenAI Admin API: project API keys, which containment can only delete (OpenAI has no block)."""
