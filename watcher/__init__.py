"""watcher: a first-party release-evidence watcher for OpenAI models."""

__version__ = "0.1.0"
