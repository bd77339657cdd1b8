"""Lambda handlers. The deployed Lambdas and the local executor call these same functions."""
