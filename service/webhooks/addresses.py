"""Where a webhook may be sent: the address policy against server-side request forgery.

A receiver's URL is checked when it is registered *and* before each delivery: its host is
resolved every time, every address it resolves to must be allowed, and the delivery connects to
the address that was checked (the name is not resolved a second time by the HTTP client, so a
DNS answer that changes between the check and the connection cannot point it elsewhere).
Redirects are never followed.

Allowed: public (globally routable) unicast addresses, over ``https``. With
``allow_loopback``, loopback addresses too, and ``http``. With ``loopback_only`` (tests), only
loopback addresses: a name other than ``localhost`` is refused without being resolved, so
nothing the service does can reach another machine.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from service.domain.errors import Issue, ValidationFailed
from service.kit.settings import Settings

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """A URL the policy does not allow, with a French reason and a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def as_validation(self) -> ValidationFailed:
        return ValidationFailed([Issue(code=self.code, field="url", message=self.message)], self.message,
                                code=self.code)


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_loopback: bool = False
    loopback_only: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(allow_loopback=settings.webhooks_allow_loopback or settings.webhooks_loopback_only,
                   loopback_only=settings.webhooks_loopback_only)

    def refusal(self, address: IpAddress) -> str | None:
        """Why ``address`` may not be reached, in French; ``None`` when it may. An IPv6 address
        that carries an IPv4 one is judged by the IPv4 address it carries."""
        if isinstance(address, ipaddress.IPv6Address):
            carried = embedded_ipv4(address)
            if isinstance(carried, str):
                return carried
            address = carried or address
        if address.is_loopback:
            return None if self.allow_loopback else "une adresse de bouclage (loopback)"
        if self.loopback_only:
            return "une adresse autre que de bouclage (cette instance n'appelle que la machine locale)"
        if address.is_link_local:
            return "une adresse lien-local"
        if address.is_private:
            return "une adresse privée"
        if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
            return "une adresse non routable publiquement"
        return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215, local-use translation
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 2.5.5.1, deprecated


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | str | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64's well-known prefix); a
    French refusal for the ranges that carry one and are refused whatever it is (Teredo, whose
    client address is obfuscated; local-use NAT64; the obsolete IPv4-compatible form);
    ``None`` otherwise."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return "une adresse Teredo (IPv4 encapsulée)"
    if address in _NAT64_LOCAL:
        return "une adresse de traduction NAT64 à usage local"
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "une adresse IPv4 compatible (forme obsolète)"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: IpAddress


def parse_url(raw: str, policy: TargetPolicy) -> SplitResult:
    """The URL's parts when its form is acceptable (scheme, host, no credentials); no resolution."""
    if len(raw) > MAX_URL_LENGTH:
        raise TargetRefused("webhook_url_invalid", f"Adresse trop longue ({len(raw)} caractères, {MAX_URL_LENGTH} "
                                                   "au plus).")
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("webhook_url_invalid", "Adresse illisible : une URL https://hôte/chemin est attendue.") \
            from None
    schemes = ("https", "http") if policy.allow_loopback else ("https",)
    if parts.scheme not in schemes:
        raise TargetRefused("webhook_url_invalid", "L'adresse doit commencer par https:// (le contenu des "
                                                   "notifications ne circule que chiffré).")
    if not parts.hostname:
        raise TargetRefused("webhook_url_invalid", "L'adresse ne nomme aucun hôte.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("webhook_url_invalid", "L'adresse ne doit pas contenir d'identifiants (user:motdepasse@) : "
                                                   "la signature de chaque notification authentifie le service.")
    if parts.fragment:
        raise TargetRefused("webhook_url_invalid", "L'adresse ne doit pas contenir de fragment (#…).")
    if port == 0:
        raise TargetRefused("webhook_url_invalid", "Port 0 invalide.")
    return parts


def resolve(raw: str, policy: TargetPolicy) -> Target:
    """Check ``raw`` and resolve its host now; refused unless every address is allowed."""
    parts = parse_url(raw, policy)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if policy.loopback_only and host.lower().rstrip(".") != "localhost":
            raise TargetRefused("webhook_url_forbidden", f"L'hôte « {host} » est refusé : cette instance n'appelle que "
                                                         "la machine locale (localhost, 127.0.0.1, ::1).")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise TargetRefused("webhook_url_unresolvable", f"L'hôte « {host} » est introuvable (DNS).") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addresses:
            raise TargetRefused("webhook_url_unresolvable", f"L'hôte « {host} » ne résout vers aucune adresse.")
    for address in addresses:
        why = policy.refusal(address)
        if why is not None:
            raise TargetRefused("webhook_url_forbidden", f"L'hôte « {host} » désigne {why} ({address}) : les "
                                                         "notifications ne sont envoyées qu'à des adresses publiques.")
    return Target(url=raw.strip(), scheme=parts.scheme, host=host, port=port, address=addresses[0])
