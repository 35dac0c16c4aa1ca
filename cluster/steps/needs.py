"""What a step reads from the host's probe, in one shape.

Every step module has ``needs(settings, platform) -> Needs``: the files it
writes (their digests), the systemd units it runs (their state), the packages
it installs, the kernel keys it sets and the directories it owns, for one
platform (``{"family": "debian", "major": 12, "network_backend": "ifupdown"}``;
the probe, which runs before the host's distribution is known, asks for every
family it may be and reads the union). ``cluster.steps.common`` combines them into
the probe's arguments; nothing else decides what the probe reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needs:
    files: tuple[str, ...] = ()        # digests: facts.files
    units: tuple[str, ...] = ()        # state: facts.services
    packages: tuple[str, ...] = ()     # installed or not: facts.packages
    sysctl: tuple[str, ...] = ()       # running values: facts.sysctl
    directories: tuple[str, ...] = ()  # owner, mode, labels: facts.pools (pool_paths)

    def __add__(self, other: Needs) -> Needs:
        """Both steps' needs, each list in order, without repeats."""
        return Needs(**{name: tuple(dict.fromkeys(getattr(self, name) + getattr(other, name)))
                        for name in self.__dataclass_fields__})


def needs(*, files=(), units=(), packages=(), sysctl=(), directories=()) -> Needs:
    """A :class:`Needs` from any iterables."""
    return Needs(tuple(files), tuple(units), tuple(packages), tuple(sysctl), tuple(directories))
