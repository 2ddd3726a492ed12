"""The `[office]` table: where the back office listens, and how (HTTPS unless said otherwise)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from config.table import ConfigError, Table

FILE = re.compile(r"/[A-Za-z0-9_./-]{1,200}")
HOST = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+", re.ASCII)


@dataclass(frozen=True)
class OfficeConfig:
    enabled: bool = True
    address: str = "0.0.0.0"      # every interface of the box: the hall's LAN
    port: int = 8443              # above 1023: the appliance runs without privileges
    tls: bool = True              # HTTPS with a certificate made at first start, unless:
    certificate: str = ""         # the hall's own certificate and key (PEM files)
    key: str = ""
    plain_http_on_lan: bool = False   # tls = false beyond loopback needs this said outright
    session_minutes: int = 60     # a session idle this long ends
    names: tuple[str, ...] = ()   # host names the box answers to besides its own (DNS names
    #                               the hall gave it); any other is refused (DNS rebinding)
    screen_port: int = 8080       # plain HTTP for the hall screens' pages only (0: none)

    @property
    def loopback(self) -> bool:
        return self.address.startswith("127.") or self.address == "::1"


def read_office(t: Table) -> OfficeConfig:
    d = OfficeConfig()
    config = OfficeConfig(
        enabled=t.get("enabled", bool, d.enabled),
        address=t.get("address", str, d.address, _ip_address, "must be an IPv4 or IPv6 address"),
        port=t.get("port", int, d.port, lambda v: 1024 <= v <= 65535, "must be 1024 to 65535"),
        tls=t.get("tls", bool, d.tls),
        certificate=t.get("certificate", str, d.certificate,
                          lambda v: FILE.fullmatch(v) is not None, "must be an absolute path"),
        key=t.get("key", str, d.key, lambda v: FILE.fullmatch(v) is not None,
                  "must be an absolute path"),
        plain_http_on_lan=t.get("plain_http_on_lan", bool, d.plain_http_on_lan),
        session_minutes=t.get("session_minutes", int, d.session_minutes,
                              lambda v: 5 <= v <= 1440, "must be 5 to 1440"),
        names=tuple(t.get("names", list, [], lambda v: len(v) <= 16 and all(
            HOST.fullmatch(n) for n in v), "must list up to 16 host names", item=str)),
        screen_port=t.get("screen_port", int, d.screen_port,
                          lambda v: v == 0 or 1024 <= v <= 65535, "must be 0 or 1024 to 65535"))
    if not config.tls and not config.loopback and not config.plain_http_on_lan:
        raise t.error("tls", "false serves passwords in clear on the LAN: set"
                      " plain_http_on_lan = true to mean it, or keep tls")
    if config.screen_port == config.port:
        raise t.error("screen_port", "must differ from port")
    if bool(config.certificate) != bool(config.key):
        raise t.error("certificate", "and key go together")
    t.close()
    return config


def _ip_address(value: str) -> bool:
    """(socket's parser, not ipaddress: this runs at boot, where every import counts)"""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return True
        except (OSError, ValueError):   # (ValueError: a NUL in it)
            pass
    return False


def check_certificate(config: OfficeConfig) -> None:
    """Raises ConfigError unless the hall's certificate and key (if named) load together: a
    file that cannot would leave the box without its back office after the next start."""
    if not config.certificate:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(config.certificate,
                                                                            config.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[office], option 'certificate': {config.certificate} and"
                          f" {config.key} cannot be loaded ({exc})") from None
