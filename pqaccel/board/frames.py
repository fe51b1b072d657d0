"""The UART host link's frame constants and the design identity, in pure Python: what both the
board's gateware (:mod:`.link`) and a host that only talks to a board (:mod:`pqaccel.host`)
need, without importing any HDL."""

import hashlib
import json

__all__ = ["OPCODES", "STATUS_MAGIC", "LINK_VERSION", "STATUS_BYTES", "manifest_hash", "byte_count"]

OPCODES = {"write": 0x57, "row": 0x52, "status": 0x53, "out": 0x4F}
STATUS_MAGIC = 0x50
LINK_VERSION = 1
STATUS_BYTES = 8


def manifest_hash(cfg):
    """32-bit hash of an engine configuration (its canonical JSON): the board reports it, the
    host compares it with the design it expects."""
    text = json.dumps({"kind": cfg.kind, "engine": cfg.to_dict()}, sort_keys=True)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def byte_count(bits):
    """Bytes that carry ``bits`` bits in a frame."""
    return -(-bits // 8)
