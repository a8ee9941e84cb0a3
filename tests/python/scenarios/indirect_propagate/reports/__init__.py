"""Report storage: sync helpers written before the service moved to asyncio."""

from .store import load_report
