"""The hall configuration: the shipped default and the reader that validates a TOML file."""

from config.load import (DEFAULT, MAX_CONFIG_BYTES, ApplianceConfig, ConfigError, load_config,
                         load_or_keep, parse_config, remember)

__all__ = ["DEFAULT", "MAX_CONFIG_BYTES", "ApplianceConfig", "ConfigError", "load_config",
           "load_or_keep", "parse_config", "remember"]
