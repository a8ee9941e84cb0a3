"""The application's one shared httpx.AsyncClient (configured as `http-client` in pyproject.toml):
its connection pool serves every request."""
import httpx

client = httpx.AsyncClient()
