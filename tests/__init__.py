"""pkgharvest's tests; a package so that `tests.fakeapi` can be imported and run with -m."""
