"""Monitoring: learn a data-quality baseline in train mode, detect drift against it in serve mode."""
