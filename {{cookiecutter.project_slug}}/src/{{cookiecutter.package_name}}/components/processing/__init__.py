"""Processing: learn the schema and encoding in train mode, apply them unchanged in serve mode."""
