"""The HTTP edge: the API client, what one exchange may cost, and which links it may follow.

The only wing that imports httpx; its errors become pkgharvest.errors classes here. It never
touches files."""
