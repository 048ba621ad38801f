"""Scoring a tree: metrics (`metrics`: dendrogram purity, flat scores, Dasgupta cost) and
labels + report (`score`)."""
