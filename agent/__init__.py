"""Agent (cardwatch.agent): per-node aiohttp service streaming card samples."""
