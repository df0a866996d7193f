"""Applied to every test: the network guard (tests/netguard.py); `pytester` for testing it."""

from tests.netguard import network_guard

pytest_plugins = ["pytester"]

__all__ = ["network_guard"]
