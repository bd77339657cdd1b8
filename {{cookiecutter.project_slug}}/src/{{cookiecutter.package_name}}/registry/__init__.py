"""Parameter Store conventions: image URIs and the versioned model manifest."""
