"""`pkgharvest fetch`: being written (issue 2)."""
