"""The conversation engine: plain asyncio, one CallSession per call, no socket in sight."""
