"""The systemd unit, sysusers/tmpfiles snippets and example config that `cardwatch agent install` writes.

packaging/ holds the same texts rendered for ``/usr/bin/cardwatch``; a test keeps them equal.
"""

from __future__ import annotations

from typing import Final

UNIT_NAME: Final = "cardwatch-agent.service"

_UNIT: Final = """\
[Unit]
Description=cardwatch node agent (accelerator health and thermals)
Documentation=man:systemd.exec(5)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={cardwatch} agent --config /etc/cardwatch/agent.toml
Restart=on-failure
RestartSec=5s
WatchdogSec=30s
TimeoutStopSec=20s

User=cardwatch
Group=cardwatch
StateDirectory=cardwatch
StateDirectoryMode=0750
ConfigurationDirectory=cardwatch
UMask=0077

# Sandboxing. /dev stays visible (no PrivateDevices=) so NVML and npu-smi can open /dev/nvidia* and
# /dev/davinci*; ProtectKernelTunables= leaves /sys readable for the sysfs collector.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""

SYSUSERS: Final = """\
# cardwatch agent: a system user that may open GPU device nodes (video group on most distributions)
u cardwatch - "cardwatch node agent" /var/lib/cardwatch
m cardwatch video
"""

TMPFILES: Final = """\
# cardwatch agent: configuration and history directories
d /etc/cardwatch 0755 root root -
d /var/lib/cardwatch 0750 cardwatch cardwatch -
"""

AGENT_TOML: Final = """\
# cardwatch agent configuration. Command-line options override these settings.

# Address and port to serve on. Any address other than loopback needs token_file (or insecure = true).
listen = "127.0.0.1:9464"

# Seconds between samples.
interval = 1.0

# Collectors to run: "auto" probes nvml, ascend and sysfs; or name them, e.g. ["nvml"].
collectors = ["auto"]

# Node name reported to the fleet (default: the host name).
# node = "gpu-node-01"

# Bearer token file; must not be readable by group or others (chmod 600).
# token_file = "/etc/cardwatch/token"

# TLS certificate and key (PEM); both or neither.
# tls_cert = "/etc/cardwatch/tls.crt"
# tls_key = "/etc/cardwatch/tls.key"

# Local SQLite history and how long to keep it (s, m, h, d, w).
db = "/var/lib/cardwatch/history.db"
retention = "7d"
"""


def render_unit(cardwatch_bin: str) -> str:
    """The unit file with ExecStart pointing at this installation's `cardwatch` executable."""
    return _UNIT.format(cardwatch=cardwatch_bin)
