"""Algorithm: fit a gradient-boosted tree model in train mode, predict over HTTP in serve mode."""
