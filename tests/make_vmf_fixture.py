"""Write tests/fixtures/vmf_reference.json: high-precision (mpmath) values of log I_v(k),
A_m(k) = I_{m/2}(k) / I_{m/2-1}(k), 1 - A_m(k), KL(vMF || uniform on S^(m-1)) and dKL/dk = k A_m'(k)
on the grid that tests/test_bessel.py checks against. The working precision is 50 digits plus
3 digits per decade of k above 1 (1 - A ~ m/k and A' ~ m/k^2 are differences of numbers near 1),
so every stored value has 30+ correct digits. Run: python tests/make_vmf_fixture.py (seconds)."""
import json
import math
from pathlib import Path

import mpmath as mp

DIMS = [2, 3, 5, 11, 64, 256, 512, 1024]
KAPPAS = [1e-2, 1e-1, 0.5, 1.0, 2.0, 10.0, 50.0, 100.0, 1e3, 1e4, 5e4, 1e5, 1e6, 1e7, 1e9, 1e12, 1e20, 1e30]


def reference(m, k):
    with mp.workdps(50 + 3 * max(0, math.ceil(math.log10(k)))):
        v, k = mp.mpf(m) / 2 - 1, mp.mpf(k)
        iv = mp.besseli(v, k)
        a = mp.besseli(v + 1, k) / iv
        log_c = v * mp.log(k) - (v + 1) * mp.log(2 * mp.pi) - mp.log(iv)
        kl = k * a + log_c + mp.log(2 * mp.pi ** (v + 1) / mp.gamma(v + 1))
        d_ratio = 1 - a * a - (m - 1) * a / k                   # A'(k), from the Bessel recurrences
        return {"m": m, "k": float(k), "log_iv": float(mp.log(iv)), "ratio": float(a),
                "one_minus_ratio": float(1 - a), "kl": float(kl), "dkl_dk": float(k * d_ratio)}


def main():
    rows = [reference(m, k) for m in DIMS for k in KAPPAS]
    out = Path(__file__).parent / "fixtures" / "vmf_reference.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"source": "mpmath, 50+ digits; see tests/make_vmf_fixture.py", "rows": rows}, indent=1))
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
