"""lifetimes' BG/NBD fitter, with its conditional expectation defined wherever the model is.

lifetimes takes the logarithm of the expectation's hypergeometric term, 2F1(r + x, b + x;
a + b + x - 1; z). For a one-time buyer (x = 0) of a shop whose fit has a + b < 1 (few seem
to drop out), the third argument is negative and the term turns negative as the horizon
grows: its logarithm is NaN, and so was every such customer's expected purchases and value.
The expectation itself (Fader, Hardie & Lee 2005, eq. 10) is finite there; this keeps the
term's sign beside the logarithm of its magnitude. Imported where a model is fitted: it
loads lifetimes.
"""

from __future__ import annotations

import numpy as np
from lifetimes import BetaGeoFitter as _LifetimesBetaGeoFitter
from scipy.special import hyp2f1


class BgNbdFitter(_LifetimesBetaGeoFitter):
    def conditional_expected_number_of_purchases_up_to_time(
            self, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next `t` days of customers with these histories (as
        lifetimes computes them, with the hypergeometric term's sign kept)."""
        x = frequency
        r, alpha, a, b = self._unload_params("r", "alpha", "a", "b")
        _a, _b, _c, _z = r + x, b + x, a + b + x - 1, t / (alpha + T + t)
        term = hyp2f1(_a, _b, _c, _z)
        # Where the term overflows, lifetimes' equivalent form (Euler's transformation).
        alternative = hyp2f1(_c - _a, _c - _b, _c, _z)
        overflow = np.isinf(term)
        ln_term = np.where(overflow, np.log(np.abs(alternative)) + (_c - _a - _b) * np.log(1 - _z),
                           np.log(np.abs(term)))
        sign = np.where(overflow, np.sign(alternative), np.sign(term))
        first_term = (a + b + x - 1) / (a - 1)
        second_term = 1 - sign * np.exp(ln_term + (r + x) * np.log((alpha + T) / (alpha + t + T)))
        denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + recency)) ** (r + x)
        return first_term * second_term / denominator
