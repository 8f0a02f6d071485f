"""Example configs shipped inside the package (``mmtune fetch examples`` copies them out)."""
