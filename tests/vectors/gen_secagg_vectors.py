#!/usr/bin/env python3
"""Independent re-computation of the secure-aggregation known answers pinned
in tests/unit/test_secagg_graph.c: the seeded Harary neighbour graph and the
(k, t) parameter choice (docs/PROTOCOL.md, "Secure aggregation").
Standard library only. Run: python3 tests/vectors/gen_secagg_vectors.py"""
import hashlib
import math
import struct

DOMAIN = b"fedtwin-secagg-graph"


def words(seed):
    counter = 0
    while True:
        block = hashlib.blake2b(DOMAIN + seed + struct.pack("<Q", counter),
                                digest_size=32).digest()
        counter += 1
        for i in range(8):
            yield struct.unpack_from("<I", block, 4 * i)[0]


def perm(seed, n):
    w = words(seed)
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        m = i + 1
        limit = 2**32 - (2**32 % m)
        while True:
            v = next(w)
            if v < limit:
                break
        j = v % m
        p[i], p[j] = p[j], p[i]
    return p


def neighbours(seed, n, k, a):
    if k >= n - 1:
        return [i for i in range(n) if i != a]
    p = perm(seed, n)
    pos = {site: i for i, site in enumerate(p)}
    out = []
    for d in range(1, k // 2 + 1):
        out.append(p[(pos[a] + d) % n])
        out.append(p[(pos[a] - d) % n])
    return sorted(out)


def hyper_tail(N, K, k, x):
    """P[X >= x], X ~ Hypergeometric(N, K, k), exactly (as a float)."""
    tot = math.comb(N, k)
    s = sum(math.comb(K, i) * math.comb(N - K, k - i)
            for i in range(x, min(K, k) + 1) if k - i <= N - K)
    return s / tot


def try_k(n, k, drop, bad, p_eta, p_sigma):
    x = 0
    while x < k and n * hyper_tail(n - 1, drop, k, x + 1) > p_eta:
        x += 1
    if x >= k:
        return None
    t = k - x
    if 2 * t <= k:
        return None
    if n * hyper_tail(n - 1, bad, k, 2 * t - k) > p_sigma:
        return None
    return t


def params(n, delta, gamma, sigma, eta):
    drop, bad = math.floor(delta * n), math.floor(gamma * n)
    p_sigma, p_eta = 2.0**-sigma, 2.0**-eta
    if n > 20:
        for k in range(2, n - 1, 2):
            t = try_k(n, k, drop, bad, p_eta, p_sigma)
            if t is not None:
                return k, t
    t = try_k(n, n - 1, drop, bad, p_eta, p_sigma)
    return (n - 1, t) if t is not None else None


if __name__ == "__main__":
    seed = bytes(range(32))
    print("perm(seed 00..1f, 10):", perm(seed, 10))
    print("neighbours(seed, 50, 6, 0):", neighbours(seed, 50, 6, 0))
    print("neighbours(seed, 50, 6, 17):", neighbours(seed, 50, 6, 17))
    for args in [(10, 0.1, 0.05), (20, 0.2, 0.1), (100, 0.1, 0.05), (500, 0.1, 0.05),
                 (1000, 0.05, 0.05), (1000, 0.1, 0.1), (200, 0.3, 0.0)]:
        print("params%s:" % (args,), params(*args, 40, 30))


# ---- Wire format known answers (PROTOCOL.md, "Secure aggregation") -------

def ctx_bytes(consortium, run, rnd, attempt):
    return consortium + struct.pack("<QQI", run, rnd, attempt)


def header(mtype, ctx, sender):
    return bytes([1, mtype]) + ctx + struct.pack("<I", sender)


def config_body(n, t, k, d, bits, chunk, seed, sites):
    body = struct.pack("<IIII", n, t, k, d) + bytes([bits]) + struct.pack("<I", chunk) + seed
    for sid, pk in sites:
        body += struct.pack("<I", sid) + pk
    return body


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def wire_vectors():
    ctx = ctx_bytes(bytes([0xC5] * 32), 7, 3, 1)
    sites = [(10 + 3 * i, bytes([i] * 32)) for i in range(5)]
    seed = bytes(range(9, 41))
    body = config_body(5, 4, 4, 1000, 24, 128, seed, sites)
    msg = header(1, ctx, 0xFFFFFFFF) + body
    b = bytes(range(100, 132))
    bcommit = hashlib.blake2b(b"fedtwin-secagg-v1-bcommit" + ctx + struct.pack("<I", 13) + b,
                              digest_size=32).hexdigest()
    ids = struct.pack("<III", 10, 13, 19)
    check = hashlib.blake2b(b"fedtwin-secagg-v1-survivors" + ctx + struct.pack("<II", 13, 3)
                            + bytes.fromhex(b2b(body)) + ids, digest_size=32).hexdigest()
    return {"config_msg": b2b(msg), "config_hash": b2b(body), "b_commit": bcommit,
            "check_stmt": check}


if __name__ == "__main__":
    for name, val in wire_vectors().items():
        print(name, val)
