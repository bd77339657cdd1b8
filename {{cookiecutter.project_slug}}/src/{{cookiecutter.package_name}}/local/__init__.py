"""Local mode: run the pipelines' own definition JSON on this machine, no AWS, no Docker."""
