"""``erfc`` for NumPy arrays (NumPy has no error function): the rational approximations of
fdlibm's ``s_erf.c`` (Sun Microsystems, 1993; the algorithm of the C libraries' erfc), evaluated
in float64 region by region. Within an ulp or two of the C library's ``erfc``, which the GELU
kernels call, so it serves as their twin."""
from __future__ import annotations

import numpy as np

__all__ = ["erfc"]

_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)
#: 1/0.35 as fdlibm tests it: the double whose high word is 0x4006DB6D, low word 0.
_ONE_OVER_035 = np.array([0x4006DB6D00000000], np.uint64).view(np.float64)[0]
_HIGH_WORD = np.uint64(0xFFFFFFFF00000000)


def _poly(z, coefficients):
    """c0 + z (c1 + z (c2 + ...)), Horner's rule as fdlibm writes it."""
    acc = np.full_like(z, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc *= z
        acc += c
    return acc


def _erfc_small(x):
    """|x| < 0.84375."""
    z = x * x
    y = _poly(z, _PP) / _poly(z, _QQ)
    return np.where(x < 0.25, 1.0 - (x + x * y), 0.5 - (x * y + (x - 0.5)))


def _erfc_middle(x):
    """0.84375 <= |x| < 1.25."""
    s = np.abs(x) - 1.0
    pq = _poly(s, _PA) / _poly(s, _QA)
    return np.where(x >= 0, (1.0 - _ERX) - pq, 1.0 + (_ERX + pq))


def _erfc_tail(x):
    """1.25 <= |x| < 28: e^(-x² - 0.5625 + R/S) / |x|, with x² split so it stays exact."""
    ax = np.abs(x)
    s = 1.0 / (ax * ax)
    near = ax < _ONE_OVER_035
    rs = np.where(near, _poly(s, _RA) / _poly(s, _SA), _poly(s, _RB) / _poly(s, _SB))
    z = (ax.view(np.uint64) & _HIGH_WORD).view(np.float64)   # ax with its low word zeroed
    r = np.exp(-z * z - 0.5625) * np.exp((z - ax) * (z + ax) + rs) / ax
    return np.where(x > 0, r, np.where(x < -6, 2.0, 2.0 - r))


def erfc(x):
    """The complementary error function 1 - erf(x) of a NumPy array, elementwise, in float64
    (cast back to x's floating dtype): no loss of accuracy for large x, where erfc is tiny."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    v = x.astype(np.float64).reshape(-1)
    out = np.empty_like(v)
    ax = np.abs(v)
    regions = ((ax < 0.84375, _erfc_small), ((ax >= 0.84375) & (ax < 1.25), _erfc_middle),
               ((ax >= 1.25) & (ax < 28), _erfc_tail))
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        for mask, region in regions:
            if mask.any():
                out[mask] = region(v[mask])
        far = ax >= 28
        out[far] = np.where(v[far] > 0, 0.0, 2.0)
        out[np.isnan(v)] = np.nan
    return out.reshape(x.shape).astype(dtype, copy=False)
