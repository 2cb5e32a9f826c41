#!/usr/bin/env python3
"""Independent encoder of a model file as docs/PROTOCOL.md ("Model files")
describes it, written from the document rather than from the C code.
Standard library only. Prints the hex of the file of a logreg model with 2
features, parameters (0.5, -0.25, 0.1) and metadata created="2026-11-25",
lr=0.5 (float64), round=3, which test_model_file.c pins."""
import hashlib
import struct


def s(x):
    b = x.encode()
    assert len(b) < 32
    return bytes([0xa0 | len(b)]) + b


def uint(v):
    if v < 128:
        return bytes([v])
    if v < 256:
        return bytes([0xcc, v])
    if v < 65536:
        return b'\xcd' + struct.pack('>H', v)
    return b'\xce' + struct.pack('>I', v)


def bin_(b):
    if len(b) < 256:
        return bytes([0xc4, len(b)]) + b
    return b'\xc5' + struct.pack('>H', len(b)) + b


params = b''.join(struct.pack('<f', v) for v in (0.5, -0.25, 0.1))
spec = bytes([0x85]) + s('kind') + s('logreg') + s('n_features') + uint(2) + \
    s('n_classes') + uint(2) + s('hidden') + bytes([0x90]) + s('activation') + s('none')
meta = bytes([0x83]) + s('created') + s('2026-11-25') + s('lr') + b'\xcb' + \
    struct.pack('>d', 0.5) + s('round') + uint(3)
body = s('format') + uint(1) + s('spec') + spec + s('params') + bin_(params) + \
    s('meta') + meta
digest = hashlib.blake2b(body, digest_size=32).digest()
print((bytes([0x85]) + body + s('hash') + bin_(digest)).hex())
