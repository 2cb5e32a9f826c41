#!/usr/bin/env python3
"""Reference epsilons for the site store's privacy budget tests
(tests/unit/test_store_privacy.c and test_store_cli.c).

An independent RDP accountant of the Poisson-subsampled Gaussian (Mironov,
Talwar and Zhang 2019: the binomial sum for integer orders, the two-series
formula for fractional ones), composed over ledger events by adding RDP per
order, converted with Balle et al. 2020 (Proposition 12) over Opacus's
default orders. Standard library only; prints the values the tests pin:

  python3 tests/vectors/store_budget_reference.py
"""
import math
def log_add(a, b):
    if a == -math.inf: return b
    if b == -math.inf: return a
    m = max(a, b); return m + math.log1p(math.exp(-abs(a - b)))
def log_sub(a, b):
    if b == -math.inf: return a
    if a == b: return -math.inf
    assert a > b
    return a + math.log1p(-math.exp(b - a))
def log_erfc(x):
    v = math.erfc(x)
    if v > 0: return math.log(v)
    return -x*x - math.log(x) - 0.5*math.log(math.pi) + math.log1p(-1/(2*x*x))
def log_a_int(q, s, a):
    la = -math.inf
    for i in range(a + 1):
        c = math.log(math.comb(a, i)) + i*math.log(q) + (a - i)*math.log(1 - q)
        la = log_add(la, c + (i*i - i) / (2*s*s))
    return la
def log_a_frac(q, s, a):
    a0 = a1 = -math.inf
    z0 = s*s*math.log(1/q - 1) + 0.5
    i = 0; coef = 1.0
    while True:
        if i > 0: coef *= (a - (i - 1)) / i
        lc = math.log(abs(coef)); j = a - i
        t0 = lc + i*math.log(q) + j*math.log(1 - q)
        t1 = lc + j*math.log(q) + i*math.log(1 - q)
        e0 = math.log(0.5) + log_erfc((i - z0) / (math.sqrt(2)*s))
        e1 = math.log(0.5) + log_erfc((z0 - j) / (math.sqrt(2)*s))
        s0 = t0 + (i*i - i)/(2*s*s) + e0
        s1 = t1 + (j*j - j)/(2*s*s) + e1
        if coef > 0: a0 = log_add(a0, s0); a1 = log_add(a1, s1)
        else: a0 = log_sub(a0, s0); a1 = log_sub(a1, s1)
        i += 1
        if max(s0, s1) < -30: break
    return log_add(a0, a1)
def rdp(q, s, steps, a):
    la = log_a_int(q, s, int(a)) if float(a).is_integer() else log_a_frac(q, s, a)
    return steps * la / (a - 1)
ORDERS = [1 + x/10 for x in range(1, 100)] + list(range(12, 64))
def eps(events, delta):
    best = math.inf
    for a in ORDERS:
        if a <= 1.01: continue
        r = sum(rdp(q, s, t, a) for q, s, t in events)
        if delta*delta > 1 - math.exp(-r): e = 0.0
        else: e = r - (math.log(delta) + math.log(a))/(a - 1) + math.log((a - 1)/a)
        best = min(best, max(e, 0.0))
    return best
if __name__ == '__main__':
    d = 1e-5
    print('run a, round 4 (0.01,1.1,1700):', repr(eps([(0.01,1.1,1700)], d)))
    print('run a (0.01,1.1,200)+(0.01,1.1,300)+plan(0.01,1.1,400):', repr(eps([(0.01,1.1,900)], d)))
    print('total +(0.02,1.5,100):', repr(eps([(0.01,1.1,900),(0.02,1.5,100)], d)))
    print('spent total before plan:', repr(eps([(0.01,1.1,500),(0.02,1.5,100)], d)))
    print('spent run b:', repr(eps([(0.02,1.5,100)], d)))
