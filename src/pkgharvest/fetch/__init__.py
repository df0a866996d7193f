"""One fetch run and its stages, in the order data walks through them: crawl (a list, proven
complete), resolve (links to references), assemble (grids and integrity), normalize, stage (into
the store's transaction), removal (the plan), and the full and targeted runs that order them."""
