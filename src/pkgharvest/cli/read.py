"""Reading commands (top, grid, show, grids, categories, export): being written (issue 3)."""
