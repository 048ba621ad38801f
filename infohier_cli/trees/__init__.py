"""Trees: the one representation (`tree.Tree`, a scipy linkage merge list plus leaf names,
with its Newick/JSON formats), the builders behind one registry (`registry`: `disk` from
`disk.py`, `latent` from `latent.py`, `auto`), and tree files in and out (`files`)."""
