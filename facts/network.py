"""Network facts: NetworkManager's state, and which connection each device has."""

from __future__ import annotations

from pyinfra.api import FactBase

from ._section import Section, key_values, multi_values, unit_state

NETWORK_MANAGER_COMMAND = (
    "if command -v NetworkManager >/dev/null 2>&1; then echo 'installed: yes'; "
    "else echo 'installed: no'; fi; "
    f"_nm_active=\"{unit_state('NetworkManager.service', 'active')}\"; "
    f"echo \"enabled: {unit_state('NetworkManager.service', 'enabled')}\"; "
    "echo \"active: $_nm_active\"; "
    "if [ \"$_nm_active\" = active ] && command -v nmcli >/dev/null 2>&1; then "
    "nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device 2>/dev/null | sed 's/^/device: /'; fi"
)


def parse_network_manager(lines: list[str]) -> dict:
    """Parse the NetworkManager section.

    ``managed`` lists the devices NetworkManager manages (every device nmcli
    shows in a state other than ``unmanaged``); it is empty when NM is not active.
    ``devices`` gives each device's type, state and connection (the profile
    active on it; ``connected (externally)`` means another service configured
    it and NetworkManager only shows it).
    """
    values = key_values(lines)
    devices = {}
    for row in multi_values(lines, "device"):
        # nmcli -t escapes ':' inside fields as '\:'
        fields = row.replace("\\:", "\0").split(":")
        if len(fields) >= 3:
            device, kind, state, connection = (
                field.replace("\0", ":") for field in (fields + [""])[:4])
            devices[device] = {"type": kind, "state": state, "connection": connection or None}
    return {
        "installed": values.get("installed") == "yes",
        "enabled": values.get("enabled") in ("enabled", "enabled-runtime", "alias"),
        "active": values.get("active") == "active",
        "managed": sorted(
            device
            for device, info in devices.items()
            if info["state"] != "unmanaged" and info["type"] != "loopback"
        ),
        "devices": devices,
    }


NETWORK_MANAGER = Section("network_manager", NETWORK_MANAGER_COMMAND, parse_network_manager)


class NetworkManagerState(FactBase):
    """
    Whether NetworkManager is installed, enabled and active, and which devices it manages.

    .. code:: python

        {"installed": True, "enabled": True, "active": True, "managed": ["eth0"],
         "devices": {"eth0": {"type": "ethernet", "state": "connected", "connection": "eth0"}}}
    """

    command = NETWORK_MANAGER.command

    def process(self, output):
        return NETWORK_MANAGER.parse(output)
