"""pkgharvest: mirror the Django Packages catalogue into local JSON and read it offline."""

__version__ = "0.1.0"

PROJECT_URL = "https://github.com/pkgharvest/pkgharvest"
USER_AGENT = f"pkgharvest/{__version__} (+{PROJECT_URL})"
