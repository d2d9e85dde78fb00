"""Anthropic Admin API: organization API keys, deactivated (block), reactivated (unblock) or archived (delete)."""
