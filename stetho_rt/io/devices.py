"""Input device listing and lookup through sounddevice (imported lazily: PortAudio may be absent).

Everything here runs on the caller's thread (CLI, or the device watchdog when it reopens a lost
device); nothing here is called from the PortAudio callback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from stetho_rt.errors import DeviceError


@dataclass(frozen=True)
class InputDevice:
    """One PortAudio input device.

    Attributes
    ----------
    index : int
        PortAudio device index (valid until PortAudio is re-initialised).
    name : str
        Device name as PortAudio reports it.
    channels : int
        Maximum input channels.
    default_rate : float
        The device's default (native) sample rate [Hz].
    low_latency_s, high_latency_s : float
        Default low and high input latencies [s].
    hostapi : str
        Host API name (ALSA, JACK, ...).
    is_default : bool
        True for the default input device.
    """

    index: int
    name: str
    channels: int
    default_rate: float
    low_latency_s: float
    high_latency_s: float
    hostapi: str
    is_default: bool

    def short(self) -> str:
        """``3 'USB Stethoscope' (ALSA, 1 ch, 8000 Hz)``: for one-line messages."""
        return (f"{self.index} '{self.name}' ({self.hostapi}, {self.channels} ch, "
                f"{self.default_rate:.0f} Hz)")


def import_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into a DeviceError."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:  # PortAudio library (or sounddevice) missing
        raise DeviceError(
            f"PortAudio is not available ({exc}); install libportaudio2 (bash tools/setup.sh)"
        ) from None
    return sounddevice


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (ALSA and PortAudio print there, and
    onnxruntime's import its telemetry warning).

    Process-wide: use it only around short native calls (PortAudio's open and re-initialise,
    onnxruntime's one-off import), never while a terminal UI might write to stderr for long;
    whatever the library prints inside is lost, errors it raises are not.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def reinit_portaudio(sd: ModuleType | None = None) -> None:
    """Terminate and re-initialise PortAudio so it enumerates the devices again.

    PortAudio scans devices once, at initialisation: a device (or sound server) that appears later
    is invisible until this is called. Every stream of the process must be closed first.
    """
    sd = sd or import_sounddevice()
    if sd._initialized > 0:
        sd._terminate()
    sd._initialize()


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel."""
    sd = import_sounddevice()
    try:
        default_in = sd.default.device[0]
        if isinstance(default_in, str):
            default_in = sd.query_devices(default_in)["index"]
    except Exception:
        default_in = -1
    try:
        hostapis = sd.query_hostapis()
        devices = sd.query_devices()
    except Exception as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None
    out = []
    for i, d in enumerate(devices):
        if d["max_input_channels"] < 1:
            continue
        out.append(
            InputDevice(
                index=i,
                name=str(d["name"]),
                channels=int(d["max_input_channels"]),
                default_rate=float(d["default_samplerate"]),
                low_latency_s=float(d["default_low_input_latency"]),
                high_latency_s=float(d["default_high_input_latency"]),
                hostapi=str(hostapis[d["hostapi"]]["name"]),
                is_default=i == default_in,
            )
        )
    return out


def describe_available(devices: list[InputDevice] | None = None) -> str:
    """One line naming the input devices, for error messages."""
    if devices is None:
        try:
            devices = list_input_devices()
        except DeviceError:
            devices = []
    if not devices:
        return "no input devices are available"
    return "available input devices: " + "; ".join(d.short() for d in devices)


def find_input_device(spec: int | str | None, devices: list[InputDevice] | None = None
                      ) -> InputDevice:
    """Resolve a device given by index, by (part of) its name, or None for the default input.

    Parameters
    ----------
    spec : int or str or None
        An index (``3`` or ``"3"``), a name or a case-insensitive part of one (an exact name wins
        over partial matches), or None for the default input device (else the first one).
    devices : list of InputDevice or None
        The candidates; default :func:`list_input_devices`.

    Raises
    ------
    DeviceError
        No such input device, or the name is ambiguous; the message lists the available devices.
    """
    devs = list_input_devices() if devices is None else devices
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for d in devs:
            if d.is_default:
                return d
        if devs:
            return devs[0]
        raise DeviceError(f"no input device found ({describe_available(devs)})")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().lstrip("-").isdigit()):
        idx = int(spec)
        for d in devs:
            if d.index == idx:
                return d
        raise DeviceError(f"no input device with index {idx} ({describe_available(devs)})")
    want = spec.strip().lower()
    exact = [d for d in devs if d.name.lower() == want]
    if exact:
        return exact[0]
    part = [d for d in devs if want in d.name.lower()]
    if len(part) == 1:
        return part[0]
    if not part:
        raise DeviceError(f"no input device matches '{spec}' ({describe_available(devs)})")
    raise DeviceError(
        f"device name '{spec}' is ambiguous: it matches "
        + ", ".join(f"{d.index} '{d.name}'" for d in part)
        + "; give the index or a longer part of the name"
    )
