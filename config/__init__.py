"""The hall configuration: the shipped default and the reader that validates a TOML file."""

from config.load import DEFAULT, ConfigError, load_config, load_or_keep

__all__ = ["DEFAULT", "ConfigError", "load_config", "load_or_keep"]
