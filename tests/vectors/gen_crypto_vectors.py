#!/usr/bin/env python3
"""Independent known-answer vectors for fedtwin's crypto core.

Recomputes, with the Python 3 standard library only, every composition that
crypto/ pins in tests/unit/test_crypto_kat.c: the round-key derivation from a
seed (BLAKE2b + X25519), the pairwise KDF, XChaCha20-Poly1305 share sealing
with a fixed nonce, mask expansion (ChaCha20-IETF), the key fingerprint and a
deterministic Shamir split over Z_L. X25519, ChaCha20, HChaCha20 and Poly1305
are written out here from RFC 7748 / RFC 8439 / draft-irtf-cfrg-xchacha, so
nothing is shared with libsodium. Regenerate with

    python3 tests/vectors/gen_crypto_vectors.py > tests/vectors/crypto_vectors.h

The layouts follow docs/PROTOCOL.md, "Cryptographic core".
"""
import hashlib
import struct

# ---- X25519 (RFC 7748) ----------------------------------------------------
P = 2**255 - 19
A24 = 121665


def x25519(k: bytes, u: bytes) -> bytes:
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    kn = int.from_bytes(k, "little")
    un = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x1, x2, z2, x3, z3, swap = un, 1, 0, un, 1, 0
    for t in reversed(range(255)):
        kt = (kn >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


BASE = (9).to_bytes(32, "little")

# ---- ChaCha20 (RFC 8439) --------------------------------------------------
M32 = 0xFFFFFFFF


def _rotl(v, c):
    return ((v << c) & M32) | (v >> (32 - c))


def _qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & M32; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M32; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & M32; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M32; s[b] = _rotl(s[b] ^ s[c], 7)


def _rounds(s):
    for _ in range(10):
        _qr(s, 0, 4, 8, 12); _qr(s, 1, 5, 9, 13); _qr(s, 2, 6, 10, 14); _qr(s, 3, 7, 11, 15)
        _qr(s, 0, 5, 10, 15); _qr(s, 1, 6, 11, 12); _qr(s, 2, 7, 8, 13); _qr(s, 3, 4, 9, 14)


CONST = list(struct.unpack("<4I", b"expand 32-byte k"))


def chacha20_block(key, counter, nonce12):
    init = CONST + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce12))
    s = init[:]
    _rounds(s)
    return struct.pack("<16I", *[(a + b) & M32 for a, b in zip(s, init)])


def chacha20_stream(key, nonce12, counter, nbytes):
    out = b""
    while len(out) < nbytes:
        out += chacha20_block(key, counter, nonce12)
        counter += 1
    return out[:nbytes]


def hchacha20(key, nonce16):
    s = CONST + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    _rounds(s)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        blk = msg[i:i + 16] + b"\x01"
        acc = (acc + int.from_bytes(blk, "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def xchacha20poly1305_encrypt(key, nonce24, pt, ad):
    sub = hchacha20(key, nonce24[:16])
    n12 = b"\x00" * 4 + nonce24[16:]
    otk = chacha20_block(sub, 0, n12)[:32]
    ks = chacha20_stream(sub, n12, 1, len(pt))
    ct = bytes(a ^ b for a, b in zip(pt, ks))

    def pad(b):
        return b + b"\x00" * ((16 - len(b) % 16) % 16)

    mac = poly1305(otk, pad(ad) + pad(ct) + struct.pack("<QQ", len(ad), len(ct)))
    return ct + mac


# ---- fedtwin compositions (docs/PROTOCOL.md) ------------------------------
def b2b(data, key=b"", person=b"", size=32):
    return hashlib.blake2b(data, digest_size=size, key=key, person=person).digest()


def kx_from_seed(seed):
    sk = b2b(seed, person=b"fedtwin-kx-sk-v1")
    return sk, x25519(sk, BASE)


def ctx_bytes(consortium, run, rnd, attempt):
    return consortium + struct.pack("<QQI", run, rnd, attempt)


def kdf(sk, own_pk, own_id, peer_pk, peer_id, ctx):
    shared = x25519(sk, peer_pk)
    lo, hi = sorted([(own_id, own_pk), (peer_id, peer_pk)])
    tr = ctx + struct.pack("<I", lo[0]) + lo[1] + struct.pack("<I", hi[0]) + hi[1]
    return (b2b(tr, key=shared, person=b"fedtwin-maskseed"),
            b2b(tr, key=shared, person=b"fedtwin-shareenc"))


def ad_bytes(ctx, sender, recipient):
    return b"fedtwin-share-v1" + ctx + struct.pack("<II", sender, recipient)


def mask_elems(seed, count, bits, offset=0):
    first = offset // 16
    ks = chacha20_stream(seed, b"\x00" * 12, first, (offset % 16 + count) * 4 + 64)
    words = struct.unpack("<%dI" % (len(ks) // 4), ks[:len(ks) // 4 * 4])
    skip = offset % 16
    return [w & ((1 << bits) - 1) for w in words[skip:skip + count]]


def fingerprint(pk):
    h = b2b(b"fedtwin-fpr" + pk)[:8].hex()
    return "-".join(h[i:i + 4] for i in range(0, 16, 4))


L = 2**252 + 27742317777372353535851937790883648493


def shamir_det(secret, t, n, coef_seed):
    shares = [b""] * n
    for half in range(2):
        coefs = [int.from_bytes(secret[16 * half:16 * half + 16], "little")]
        for j in range(1, t):
            wide = b2b(struct.pack("<II", half, j), key=coef_seed,
                       person=b"fedtwin-shamirkt", size=64)
            coefs.append(int.from_bytes(wide, "little") % L)
        for x in range(1, n + 1):
            y = sum(c * pow(x, k, L) for k, c in enumerate(coefs)) % L
            shares[x - 1] += y.to_bytes(32, "little")
    return shares


def c_bytes(name, b):
    body = ", ".join("0x%02x" % v for v in b)
    return "static const uint8_t %s[%d] = { %s };" % (name, len(b), body)


def c_u32(name, vals):
    return "static const uint32_t %s[%d] = { %s };" % (
        name, len(vals), ", ".join("0x%08xu" % v for v in vals))


def selftest():
    """The primitives above against their RFCs' own vectors."""
    k = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519(k, u).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    blk = chacha20_block(bytes(range(32)), 1, bytes.fromhex("000000090000004a00000000"))
    assert blk.hex().startswith("10f1e7e4d13b5915500fdd1fa32071c4")
    key = bytes(range(0x80, 0xA0))
    nonce = bytes(range(0x40, 0x58))
    ad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
          b"for the future, sunscreen would be it.")
    c = xchacha20poly1305_encrypt(key, nonce, pt, ad)
    assert c[:8].hex() == "bd6d179d3e83d43b" and c[-16:].hex() == "c0875924c1c7987947deafd8780acf49"


def main():
    selftest()
    seed_a = bytes(range(0x00, 0x20))
    seed_b = bytes(range(0x20, 0x40))
    consortium = bytes(range(0x40, 0x60))
    run, rnd, attempt = 0x0102030405060708, 42, 1
    id_a, id_b = 7, 3
    ctx = ctx_bytes(consortium, run, rnd, attempt)

    sk_a, pk_a = kx_from_seed(seed_a)
    sk_b, pk_b = kx_from_seed(seed_b)
    mask_a, enc_a = kdf(sk_a, pk_a, id_a, pk_b, id_b, ctx)
    mask_b, enc_b = kdf(sk_b, pk_b, id_b, pk_a, id_a, ctx)
    assert (mask_a, enc_a) == (mask_b, enc_b)

    nonce = bytes(range(0x60, 0x78))
    pt = b"fedtwin share payload, 40 bytes long...."
    assert len(pt) == 40
    ct = xchacha20poly1305_encrypt(enc_a, nonce, pt, ad_bytes(ctx, id_a, id_b))
    sealed = nonce + ct

    m32 = mask_elems(mask_a, 40, 32)
    m16 = mask_elems(mask_a, 40, 16)
    m20_off = mask_elems(mask_a, 24, 20, offset=1000003)

    # RFC 8032, section 7.1, TEST 1: the fingerprint of its public key and
    # the plain key file holding its seed.
    ed_seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    ed_pk = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    keyfile = ("fedtwin-identity v1\npublic-key %s\nkdf none\nsecret-seed %s\n"
               % (ed_pk.hex(), ed_seed.hex()))

    secret = bytes(range(0x80, 0xA0))
    coef_seed = bytes(range(0xA0, 0xC0))
    shares = shamir_det(secret, 3, 5, coef_seed)

    out = []
    out.append("/* Generated by tests/vectors/gen_crypto_vectors.py; do not edit. */")
    out.append("#ifndef FT_CRYPTO_VECTORS_H\n#define FT_CRYPTO_VECTORS_H\n#include <stdint.h>")
    out.append(c_bytes("kat_seed_a", seed_a))
    out.append(c_bytes("kat_seed_b", seed_b))
    out.append(c_bytes("kat_consortium", consortium))
    out.append("#define KAT_RUN UINT64_C(0x%016x)\n#define KAT_ROUND %du\n#define KAT_ATTEMPT %du"
               % (run, rnd, attempt))
    out.append("#define KAT_ID_A %du\n#define KAT_ID_B %du" % (id_a, id_b))
    out.append(c_bytes("kat_pk_a", pk_a))
    out.append(c_bytes("kat_pk_b", pk_b))
    out.append(c_bytes("kat_mask_seed", mask_a))
    out.append(c_bytes("kat_enc_key", enc_a))
    out.append(c_bytes("kat_nonce", nonce))
    out.append('#define KAT_PT "%s"' % pt.decode())
    out.append(c_bytes("kat_sealed", sealed))
    out.append(c_u32("kat_mask32", m32))
    out.append(c_u32("kat_mask16", m16))
    out.append("#define KAT_MASK20_OFFSET 1000003u")
    out.append(c_u32("kat_mask20_off", m20_off))
    out.append(c_bytes("kat_ed_pk", ed_pk))
    out.append('#define KAT_ED_FPR "%s"' % fingerprint(ed_pk))
    out.append('#define KAT_ED_KEYFILE "%s"' % keyfile.replace("\n", "\\n"))
    out.append('#define KAT_KX_A_FPR "%s"' % fingerprint(pk_a))
    out.append(c_bytes("kat_shamir_secret", secret))
    out.append(c_bytes("kat_shamir_coef_seed", coef_seed))
    out.append("#define KAT_SHAMIR_T 3u\n#define KAT_SHAMIR_N 5u")
    out.append(c_bytes("kat_shamir_shares", b"".join(shares)))
    out.append("#endif")
    print("\n".join(out))


if __name__ == "__main__":
    main()
