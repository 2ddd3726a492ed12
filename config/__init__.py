"""The hall configuration: the shipped default and the reader that validates a TOML file."""

from config.load import (DEFAULT, ApplianceConfig, ConfigError, load_config, load_or_keep,
                         remember)

__all__ = ["DEFAULT", "ApplianceConfig", "ConfigError", "load_config", "load_or_keep",
           "remember"]
