"""``stetho-rt devices``: input devices with their default rates and latencies."""

from __future__ import annotations

import argparse
import sys
from typing import IO

from stetho_rt.io.devices import InputDevice, list_input_devices

NAME_WIDTH = 40


def format_devices(devices: list[InputDevice]) -> str:
    """The table ``stetho-rt devices`` prints: one line per input device, ``*`` marks the default.

    Columns: index, name, host API, input channels, default rate [Hz], default low and high input
    latencies [ms].
    """
    lines = [
        f"{'idx':>4} {'name':<{NAME_WIDTH}} {'host API':<10} {'ch':>3} {'rate Hz':>8} "
        f"{'latency ms low/high':>20}"
    ]
    for d in devices:
        mark = "*" if d.is_default else " "
        name = d.name if len(d.name) <= NAME_WIDTH else d.name[: NAME_WIDTH - 1] + "…"
        lines.append(
            f"{d.index:>3}{mark} {name:<{NAME_WIDTH}} {d.hostapi[:10]:<10} {d.channels:>3} "
            f"{d.default_rate:>8.0f} {d.low_latency_s * 1000:>9.1f} / "
            f"{d.high_latency_s * 1000:<8.1f}"
        )
    return "\n".join(line.rstrip() for line in lines)


def run_devices(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Print the input devices; return 0 (a missing PortAudio raises DeviceError: exit 2)."""
    out = out or sys.stdout
    devices = list_input_devices()
    if not devices:
        print("no input devices found (PortAudio lists the devices present when it starts; "
              "is the sound server running?)", file=out)
        return 0
    print(format_devices(devices), file=out)
    print("* default input; use --device INDEX or part of the name, --rate HZ to override the "
          "default rate", file=out)
    return 0
