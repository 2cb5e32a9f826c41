#!/usr/bin/env python3
"""Independent encoder of one fedtwin wire envelope (docs/PROTOCOL.md,
"Wire protocol", "Envelope"), written from the documentation with the Python 3
standard library only: msgpack by hand, Ed25519 from RFC 8032 section 5.1,
BLAKE2b from hashlib. tests/unit/test_wire.c pins its output byte for byte.

Usage: python3 tests/vectors/wire_envelope_vector.py   (prints C arrays)
"""
import hashlib

# ---- Ed25519 (RFC 8032), extended coordinates ----------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _inv(x):
    return pow(x, P - 2, P)


def _xrecover(y):
    xx = (y * y - 1) * _inv(D * y * y + 1) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P != 0:
        x = x * SQRT_M1 % P
    if x % 2:
        x = P - x
    return x


_BY = 4 * _inv(5) % P
_BX = _xrecover(_BY)
BASE = (_BX, _BY, 1, _BX * _BY % P)


def _add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _enc(pt):
    x, y, z, _ = pt
    zi = _inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ed25519(seed, msg):
    """(public key, signature) for a 32-byte seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    pk = _enc(_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % L
    big_r = _enc(_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(big_r + pk + msg).digest(), "little") % L
    return pk, big_r + ((r + k * a) % L).to_bytes(32, "little")


# ---- msgpack, shortest forms ------------------------------------------------
def mp_uint(v):
    if v <= 0x7F:
        return bytes([v])
    for tag, n in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if v < 1 << (8 * n):
            return bytes([tag]) + v.to_bytes(n, "big")
    raise ValueError(v)


def mp_bin(b):
    n = len(b)
    for tag, w in ((0xC4, 1), (0xC5, 2), (0xC6, 4)):
        if n < 1 << (8 * w):
            return bytes([tag]) + n.to_bytes(w, "big") + b
    raise ValueError(n)


def envelope(seed, hdr, body):
    inner = bytes([0x9C])  # array of 12
    inner += mp_uint(1) + mp_uint(hdr["type"]) + mp_bin(hdr["consortium"])
    for k in ("run", "round", "attempt", "phase", "sender", "recipient", "seq", "sent_at_ms"):
        inner += mp_uint(hdr[k])
    inner += mp_bin(body)
    _, sig = ed25519(seed, b"fedtwin-envelope-v1" + inner)
    return bytes([0x92]) + mp_bin(inner) + mp_bin(sig)


def selftest():
    # RFC 8032 section 7.1, TEST 1 (empty message)
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pk, sig = ed25519(seed, b"")
    assert pk.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert sig.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


def main():
    selftest()
    consortium_pk, _ = ed25519(bytes([0x01]) * 32, b"")
    cid = hashlib.blake2b(b"Test Consortium" + consortium_pk, digest_size=32).digest()
    hdr = dict(type=6, consortium=cid, run=7, round=3, attempt=1, phase=3, sender=1,
               recipient=0xFFFFFFFF, seq=300, sent_at_ms=1700000000000)
    env = envelope(bytes([0x11]) * 32, hdr, bytes(range(20)))
    print("/* consortium id, BLAKE2b-256(\"Test Consortium\" || pk(seed 0x01..)) */")
    print("static const uint8_t kat_consortium_id[32] = {", ", ".join("0x%02x" % b for b in cid), "};")
    print("/* SECAGG envelope from site 1 (seed 0x11..), body 00..13 */")
    print("static const uint8_t kat_envelope[%d] = {" % len(env))
    for i in range(0, len(env), 12):
        print("\t" + ", ".join("0x%02x" % b for b in env[i:i + 12]) + ",")
    print("};")


if __name__ == "__main__":
    main()
