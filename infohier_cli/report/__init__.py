"""Pictures of a tree: the Poincaré-disk plot (`plot`)."""
