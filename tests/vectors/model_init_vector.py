#!/usr/bin/env python3
"""Independent check of ft_model_init (docs/PROTOCOL.md, "Model files" and
models/ft_model.h): ChaCha20-IETF (RFC 8439) keystream of the seed with a zero
nonce, 4 little-endian bytes per parameter, u = (word >> 8) / 2^24,
w = (2u - 1) * sqrt(6 / (fan_in + fan_out)) in float32, biases zero.
Standard library only. Prints the parameters of a logreg with 3 features
and the seed 00 01 02 ... 1f, which test_model.c pins."""
import math
import struct


def rotl(v, c):
    return ((v << c) & 0xffffffff) | (v >> (32 - c))


def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)


def block(key, counter, nonce):
    st = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    st += list(struct.unpack('<8I', key)) + [counter] + list(struct.unpack('<3I', nonce))
    w = st[:]
    for _ in range(10):
        quarter(w, 0, 4, 8, 12); quarter(w, 1, 5, 9, 13)
        quarter(w, 2, 6, 10, 14); quarter(w, 3, 7, 11, 15)
        quarter(w, 0, 5, 10, 15); quarter(w, 1, 6, 11, 12)
        quarter(w, 2, 7, 8, 13); quarter(w, 3, 4, 9, 14)
    return struct.pack('<16I', *[(a + b) & 0xffffffff for a, b in zip(w, st)])


# RFC 8439 section 2.3.2 test vector, to check this implementation.
k = bytes(range(32))
n = bytes.fromhex('000000090000004a00000000')
assert block(k, 1, n).hex().startswith('10f1e7e4d13b5915500fdd1fa32071c4')


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


seed = bytes(range(32))
ks = block(seed, 0, bytes(12))
a = f32(math.sqrt(6.0 / (3 + 1)))
params = []
for i in range(3):
    word = struct.unpack_from('<I', ks, 4 * i)[0]
    u = f32((word >> 8) * (1.0 / 16777216.0))
    params.append(f32(f32(2.0 * u - 1.0) * a))
params.append(0.0)
for p in params:
    print('%.9g' % p)
