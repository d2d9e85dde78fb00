"""Langfuse prompt management: move a prompt's serving label back to the previous version and forward again."""
