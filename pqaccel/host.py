"""Host side of the UART link (:mod:`pqaccel.board.link`): load tables, stream rows, read
results, check them against the golden model.

The transport is pluggable: anything with ``write(data: bytes)`` and ``read(n) -> bytes``
(raising :class:`TimeoutError` when the board does not answer).  :class:`SerialTransport` is a
real port (pyserial); the cocotb testbench :mod:`pqaccel.sim.link_tb` gives the same
:class:`Board` a bit-level UART into the board top's Verilog.
"""

from .board.frames import OPCODES, STATUS_BYTES, STATUS_MAGIC, LINK_VERSION

__all__ = ["Board", "HostError", "SerialTransport"]


class HostError(Exception):
    """A problem with the link or the board, with a message for the user."""


class SerialTransport:
    """A serial port through pyserial (``port`` e.g. ``/dev/ttyUSB0``)."""

    def __init__(self, port, baud, timeout=2.0):
        try:
            import serial
        except ImportError as e:
            raise HostError("pyserial is not installed (pip install pyserial)") from e
        try:
            self.port = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            raise HostError(f"cannot open serial port {port!r}: {e}") from None
        self.name = port

    def write(self, data):
        self.port.write(bytes(data))

    def read(self, n):
        data = self.port.read(n)
        if len(data) < n:
            raise TimeoutError(
                f"{self.name}: {n} bytes expected, {len(data)} arrived before the time-out"
            )
        return data

    def close(self):
        self.port.close()


class Board:
    """A board running a :class:`pqaccel.board.link.HostLink` with the parameters ``params``
    (the ``link`` section of its manifest, :meth:`pqaccel.board.link.HostLink.manifest`)."""

    def __init__(self, transport, params):
        self.t = transport
        self.p = params
        self.pending = []  # output beats read while waiting for something else
        self.bytes_sent = 0

    # -- frames ----------------------------------------------------------------------------------
    def _send(self, data):
        self.t.write(data)
        self.bytes_sent += len(data)

    def _frame(self):
        """Read one board frame: ``("out", beat)`` or ``("status", dict)``."""
        op = self.t.read(1)[0]
        if op == OPCODES["out"]:
            return "out", int.from_bytes(self.t.read(self.p["out_bytes"]), "little")
        if op == OPCODES["status"]:
            b = self.t.read(STATUS_BYTES)
            return "status", {
                "magic": b[0],
                "version": b[1],
                "active_bank": b[2] & 1,
                "error": (b[2] >> 1) & 1,
                "rx_level": 16 * b[3],
                "hash": int.from_bytes(b[4:8], "little"),
            }
        raise HostError(
            f"the board sent an unknown frame type 0x{op:02x} (is it running a pqaccel link "
            f"of version {LINK_VERSION}?)"
        )

    def status(self):
        """Request and return the status; every frame sent before has then been taken."""
        self._send(bytes([OPCODES["status"]]))
        while True:
            kind, value = self._frame()
            if kind == "status":
                if value["magic"] != STATUS_MAGIC:
                    raise HostError(
                        f"the board's status has magic 0x{value['magic']:02x}, not "
                        f"0x{STATUS_MAGIC:02x}: not a pqaccel link"
                    )
                return value
            self.pending.append(value)

    def check_identity(self):
        """Fail unless the board runs the engine these parameters describe."""
        try:
            s = self.status()
        except TimeoutError as e:
            raise HostError(f"the board does not answer a status request ({e})") from None
        if s["version"] != LINK_VERSION:
            raise HostError(
                f"the board speaks link version {s['version']}, this host {LINK_VERSION}"
            )
        if s["hash"] != self.p["hash"]:
            raise HostError(
                f"the board runs a different design: manifest hash 0x{s['hash']:08x}, expected "
                f"0x{self.p['hash']:08x} (rebuild with 'pqaccel build' for this configuration)"
            )
        return s

    # -- writes and rows -------------------------------------------------------------------------
    def write(self, writes):
        """Table-port writes ``[(addr, data), ...]``, in chunks that fit the receive FIFO (each
        chunk confirmed by a status round trip)."""
        a, d = self.p["addr_bytes"], self.p["data_bytes"]
        per = 1 + a + d
        chunk = max(1, (self.p["rx_depth"] // 2) // per)
        for i in range(0, len(writes), chunk):
            data = bytearray()
            for addr, value in writes[i : i + chunk]:
                data.append(OPCODES["write"])
                data += int(addr).to_bytes(a, "little") + int(value).to_bytes(d, "little")
            self._send(data)
            self.status()

    def stream(self, beats, beats_per_row, outs_per_row):
        """Send input ``beats`` (ints) and return the output beats, keeping at most as many rows
        outstanding as half the receive FIFO holds."""
        ib = self.p["in_bytes"]
        rows = len(beats) // beats_per_row
        window = max(1, (self.p["rx_depth"] // 2) // (beats_per_row * (1 + ib)))
        outs = list(self.pending)
        self.pending = []
        want = rows * outs_per_row
        sent = 0
        while len(outs) < want:
            done = len(outs) // outs_per_row
            if sent < rows and sent - done < window:
                data = bytearray()
                for beat in beats[sent * beats_per_row : (sent + 1) * beats_per_row]:
                    data.append(OPCODES["row"])
                    data += int(beat).to_bytes(ib, "little")
                self._send(data)
                sent += 1
                continue
            kind, value = self._frame()
            if kind == "out":
                outs.append(value)
        return outs

    def run_job(self, job):
        """Load ``job``'s tables (a :class:`pqaccel.jobs.Job`), stream its rows, return the
        output beats (check them with ``job.check``)."""
        self.write(job.writes)
        return self.stream(job.in_beats, job.g, job.mt)
