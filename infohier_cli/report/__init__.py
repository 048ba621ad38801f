"""Pictures and folders of a tree: the Poincaré-disk plot (`plot`), the dendrogram
(`dendrogram`), and one folder per cluster (`folders`)."""
