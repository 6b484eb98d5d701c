"""A virtual capture device for tests: a private, headless PulseAudio daemon fed through a FIFO.

Layout (everything lives in a temporary directory, removed by :meth:`VirtualDevice.stop`)::

    feeder ──► FIFO ──► module-pipe-source ──► pulseaudio ──► ALSA "pulse" plugin ──► PortAudio
    thread     (float32le, rate, channels)      (-n, private runtime dir)

Facts this class works around (measured on Debian 12, PulseAudio 16.1, PortAudio 19.6):

- PortAudio enumerates devices once, at ``Pa_Initialize`` (``import sounddevice``): the daemon
  must be up before that, or PortAudio must be re-initialised (:func:`reinit_portaudio`).
- ``module-pipe-source`` creates the FIFO itself and refuses to start if it exists (a SIGKILLed
  daemon leaves it behind): :meth:`start` removes a stale FIFO first.
- PulseAudio reads the FIFO only while someone records: writes are non-blocking (``O_NONBLOCK``,
  atomic ``PIPE_BUF`` chunks so frames never split) and :meth:`drain` empties stale audio.
- The FIFO is the clock: with nothing written, no callback arrives, and ``Pa_StopStream`` can block
  for ever (``Pa_AbortStream`` returns at once).
- PulseAudio never sets ``input_overflow``.
- Running as root needs no ``--system``: ``-n --daemonize=no`` with a private
  ``XDG_RUNTIME_DIR``/``PULSE_RUNTIME_PATH``/``HOME`` works (it only warns). Clients reach it
  through ``PULSE_SERVER``; autospawn is disabled so a killed daemon stays dead.

Run it by hand::

    python tests/virtual_device.py 48000      # prints the env to export, feeds a 440 Hz tone
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

#: ``fcntl`` commands to get/set a pipe's capacity (Linux).
_F_SETPIPE_SZ = 1031
_F_GETPIPE_SZ = 1032
#: Bytes a non-blocking write to a pipe moves atomically (all or nothing).
_PIPE_BUF = 4096
#: Paced feeding keeps this much audio written ahead of the wall clock [s].
FEED_LEAD_S = 0.05
#: Feeder sleep between attempts [s].
_FEED_POLL_S = 0.004
#: Longest wait for the daemon to come up [s].
START_TIMEOUT_S = 10.0


def _die_with_parent() -> None:
    """In the forked child: get SIGKILL when the spawning thread dies (no orphaned daemon)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def pulseaudio_available() -> str | None:
    """Return None if the virtual device can run here, else the reason why not."""
    missing = [exe for exe in ("pulseaudio",) if shutil.which(exe) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed (bash tools/setup.sh test installs "
            "pulseaudio pulseaudio-utils libasound2-plugins)"
        )
    plugin_dirs = [Path(d) for d in ("/usr/lib/x86_64-linux-gnu/alsa-lib",
                                     "/usr/lib/aarch64-linux-gnu/alsa-lib",
                                     "/usr/lib/alsa-lib", "/usr/lib64/alsa-lib")]
    if not any((d / "libasound_module_pcm_pulse.so").exists() for d in plugin_dirs):
        return "ALSA pulse plugin missing (apt-get install libasound2-plugins)"
    return None


def reinit_portaudio(sd: ModuleType | None = None) -> None:
    """Re-initialise PortAudio so it enumerates devices again (no-op if not imported yet).

    Parameters
    ----------
    sd : module or None
        The ``sounddevice`` module; default: the imported one, if any.
    """
    sd = sd or sys.modules.get("sounddevice")
    if sd is None:
        return
    if sd._initialized > 0:
        sd._terminate()
    sd._initialize()


class VirtualDevice:
    """A private PulseAudio daemon whose default source is a FIFO the test writes to.

    Parameters
    ----------
    root : str or Path or None
        Directory for the runtime files; default a fresh temporary directory.

    Attributes
    ----------
    rate : int
        Sample rate of the FIFO source [Hz] (set by :meth:`start`).
    channels : int
        Channels of the FIFO source (interleaved float32).
    device_name : str
        Name of the PortAudio device that reaches the daemon (``"pulse"``).
    """

    device_name = "pulse"

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="stetho-vdev-"))
        self.run_dir = self.root / "run"
        self.fifo = self.root / "source.fifo"
        self.socket = self.run_dir / "native"
        self.log_path = self.root / "pulseaudio.log"
        self.rate = 48000
        self.channels = 1
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None
        self._fd_lock = threading.Lock()
        self._feeder: threading.Thread | None = None
        self._feed_stop = threading.Event()
        self._feed_done = threading.Event()
        self._feed_done.set()
        self.fed_frames = 0
        """Frames the current feed has written into the FIFO (or discarded while no daemon ran)."""

    # ------------------------------------------------------------------ environment
    @property
    def env(self) -> dict[str, str]:
        """Variables a client process needs to reach this daemon (and nothing else)."""
        return {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_CLIENTCONFIG": str(self.root / "client.conf"),
            "PULSE_COOKIE": str(self.root / "cookie"),
        }

    def apply_env(self) -> None:
        """Export :attr:`env` into this process (before PortAudio initialises or re-initialises)."""
        os.environ.update(self.env)

    def _daemon_env(self) -> dict[str, str]:
        env = dict(os.environ)
        home = self.root / "home"
        env.update(
            XDG_RUNTIME_DIR=str(self.run_dir),
            PULSE_RUNTIME_PATH=str(self.run_dir),
            PULSE_STATE_PATH=str(self.root / "state"),
            XDG_CONFIG_HOME=str(home / ".config"),
            HOME=str(home),
        )
        env.pop("PULSE_SERVER", None)
        return env

    # ------------------------------------------------------------------ daemon
    def start(self, rate: int = 48000, channels: int = 1, timeout: float = START_TIMEOUT_S) -> None:
        """Start the daemon with a FIFO source of ``rate`` [Hz] and ``channels``; wait until ready.

        Raises
        ------
        RuntimeError
            If the daemon does not come up within ``timeout`` seconds (its log is quoted).
        """
        self.rate = int(rate)
        self.channels = int(channels)
        for d in (self.run_dir, self.root / "home", self.root / "state"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        (self.root / "client.conf").write_text("autospawn = no\n")
        script = self.root / "default.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name=null rate={self.rate} "
            f"channels={self.channels}\n"
            f"load-module module-pipe-source source_name=fifo file={self.fifo} "
            f"format=float32le rate={self.rate} channels={self.channels}\n"
            "set-default-source fifo\n"
            "set-default-sink null\n"
        )
        self._spawn(timeout)

    def _spawn(self, timeout: float) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()  # left behind by a killed daemon: the module would refuse it
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        log = open(self.log_path, "ab")  # noqa: SIM115  (the daemon owns it)
        try:
            self._proc = subprocess.Popen(
                [
                    "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
                    "--use-pid-file=no", "--realtime=no", "--high-priority=no",
                    "--disable-shm=no", "-F", str(self.root / "default.pa"),
                    "--log-target=stderr", "--log-level=error",
                ],
                env=self._daemon_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.fifo.exists() and self._socket_ready():
                try:
                    self._open_fifo()
                    return
                except OSError as e:  # ENXIO: the daemon made the FIFO but has no reader on it yet
                    if e.errno != errno.ENXIO:
                        raise
            time.sleep(0.01)
        self.kill_daemon()
        raise RuntimeError(
            f"pulseaudio did not start within {timeout:.0f} s: "
            f"{self.log_path.read_text(errors='replace')[-2000:]}"
        )

    def _socket_ready(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(self.socket))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def _open_fifo(self) -> None:
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)  # 1 MiB: seconds of audio
        with self._fd_lock:
            old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)

    @property
    def daemon_running(self) -> bool:
        """True while the daemon process lives."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the daemon."""
        return self._proc.pid if self._proc is not None else None

    def kill_daemon(self) -> None:
        """SIGKILL the daemon (an unplugged device, a crashed sound server); the FIFO stays."""
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)

    def restart_daemon(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the daemon again with the same rate and channels (after :meth:`kill_daemon`)."""
        self.kill_daemon()
        self._spawn(timeout)

    def stop(self) -> None:
        """Stop feeding, terminate the daemon and remove the runtime directory."""
        self.stop_feeding()
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> VirtualDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ FIFO
    def drain(self) -> int:
        """Discard audio waiting in the FIFO (written while nobody recorded); return its bytes."""
        try:
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return 0
        n = 0
        try:
            while True:
                try:
                    b = os.read(fd, 1 << 16)
                except BlockingIOError:
                    break
                if not b:
                    break
                n += len(b)
        finally:
            os.close(fd)
        return n

    def feed(self, samples: npt.ArrayLike, paced: bool = True, lead_s: float = FEED_LEAD_S,
             loop: bool = False) -> None:
        """Write ``samples`` into the FIFO from a background thread (replaces a running feed).

        Parameters
        ----------
        samples : array_like
            1-D (copied to every channel) or (frames, channels) float samples in [-1, 1].
        paced : bool
            True: keep the writes ``lead_s`` ahead of the wall clock at :attr:`rate`, like a
            microphone; audio due while the daemon is down is discarded. False: write as fast
            as PulseAudio reads (only while someone records), waiting while the daemon is down.
        lead_s : float
            Look-ahead of paced writes [s].
        loop : bool
            Repeat ``samples`` until :meth:`stop_feeding`.
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 1:
            x = np.repeat(x[:, None], self.channels, axis=1)
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"samples of shape {x.shape}: expected (frames, {self.channels})")
        self.stop_feeding()
        data = np.ascontiguousarray(x).tobytes()
        self._feed_stop.clear()
        self._feed_done.clear()
        self.fed_frames = 0
        self._feeder = threading.Thread(
            target=self._feed_run, args=(data, paced, lead_s, loop), name="vdev-feeder", daemon=True
        )
        self._feeder.start()

    def feed_file(self, path: str | os.PathLike[str], paced: bool = True) -> int:
        """Feed an audio file, downmixed and resampled to :attr:`rate` (``resample_poly``).

        Returns
        -------
        int
            Frames fed [samples at :attr:`rate`].
        """
        from fractions import Fraction

        import soundfile as sf
        from scipy.signal import resample_poly

        x, file_rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
        mono = x.mean(axis=1)
        if file_rate != self.rate:
            ratio = Fraction(self.rate, int(file_rate))
            mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
        self.feed(mono, paced=paced)
        return int(mono.shape[0])

    def wait_fed(self, timeout: float | None = None) -> bool:
        """Wait until the current feed is fully written; False on timeout."""
        return self._feed_done.wait(timeout)

    def stop_feeding(self) -> None:
        """Stop the feeder thread (the FIFO keeps what was written)."""
        self._feed_stop.set()
        if self._feeder is not None:
            self._feeder.join(5)
            self._feeder = None

    def _feed_run(self, data: bytes, paced: bool, lead_s: float, loop: bool) -> None:
        # Feeder thread: non-blocking, frame-atomic writes; ``off`` counts bytes fed in total.
        frame_bytes = 4 * self.channels
        chunk = (_PIPE_BUF // frame_bytes) * frame_bytes  # atomic: a frame is never split
        bytes_per_s = self.rate * frame_bytes
        lead = int(lead_s * self.rate) * frame_bytes
        size = len(data)
        total = size if not loop else 1 << 62
        off = 0
        t0 = time.monotonic()
        try:
            while off < total and size and not self._feed_stop.is_set():
                due = int((time.monotonic() - t0) * bytes_per_s) // frame_bytes * frame_bytes
                limit = total if not paced else min(total, due + lead)
                progressed = False
                while off < limit:
                    start = off % size
                    end = min(start + chunk, size, start + (limit - off))
                    with self._fd_lock:
                        fd = self._fd
                        broken = fd is None
                        if not broken:
                            try:
                                n = os.write(fd, data[start:end])
                            except BlockingIOError:
                                break
                            except OSError as exc:
                                if exc.errno not in (errno.EPIPE, errno.EBADF, errno.ENXIO):
                                    raise
                                broken = True
                    if broken:  # no daemon reading
                        if not paced:
                            break  # wait for the daemon to come back
                        n = end - start  # a mic keeps sampling: that audio is lost
                    off += n
                    self.fed_frames = off // frame_bytes
                    progressed = True
                if not progressed or paced:
                    time.sleep(_FEED_POLL_S)
        finally:
            self._feed_done.set()


def _main() -> None:  # pragma: no cover - manual use
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 48000
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill too
    with VirtualDevice() as vd:
        vd.start(rate)
        for k, v in vd.env.items():
            print(f"export {k}={v}")
        t = np.arange(rate) / rate
        vd.feed((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), loop=True)
        print("feeding a 440 Hz tone; Ctrl-C to stop", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            vd.wait_fed()


if __name__ == "__main__":  # pragma: no cover
    _main()
