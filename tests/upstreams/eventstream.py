"""An encoder of AWS's ``application/vnd.amazon.eventstream`` frames, for the stand-ins of AWS
streaming APIs (botocore only decodes them).

A frame: the prelude (total length and headers length, each a big-endian uint32, then the
CRC32 of those 8 bytes), the headers, the payload, then the CRC32 of everything before it.
A header: its name's length (uint8) and name, the value type (7: string), the value's length
(uint16) and value. Only string headers are written: Bedrock's event headers are strings.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

STRING = 7
PRELUDE = 12  # total length, headers length, prelude CRC
MESSAGE_CRC = 4


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", STRING, len(raw_value)) + raw_value
    return bytes(out)


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = encode_headers(headers)
    total = PRELUDE + len(raw_headers) + len(payload) + MESSAGE_CRC
    prelude = struct.pack(">II", total, len(raw_headers))
    body = prelude + struct.pack(">I", _crc(prelude)) + raw_headers + payload
    return body + struct.pack(">I", _crc(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    """An ``event`` message (``:event-type`` names the member of the stream's union)."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, json.dumps(payload).encode())


def exception(exception_type: str, message: str) -> bytes:
    """An ``exception`` message, as a service sends an error in the middle of a stream."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())
