"""Components, pipelines and command line of this ML use case (see README.md)."""

__version__ = "0.1.0"
