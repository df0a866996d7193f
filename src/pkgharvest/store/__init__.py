"""The data folder: record files and their bytes, the staged transaction and its journal, the
lock, the manifest, the index of which file holds which id, and read-only access for readers.
It never imports fetch, api or catalogue."""
