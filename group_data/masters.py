"""Settings for the management plane (DNS, static DHCP, NTP)."""
