"""Rayleigh fading with spatially correlated receive antennas (Kronecker model)."""

from __future__ import annotations

import numbers

import numpy as np

from ..base import ChannelModel, complex_normal
from ..registry import register_channel

__all__ = ["CorrelatedRayleighChannel", "exp_corr_matrix", "psd_sqrt"]


def exp_corr_matrix(r: complex, n: int) -> np.ndarray:
    """Exponential correlation matrix, Hermitian Toeplitz (Loyka, IEEE Comm. Lett. 2001).

    .. math::
        R_{ij} = r^{\\,i-j} \\; (i \\ge j), \\qquad R_{ij} = (r^*)^{\\,j-i} \\; (i < j),

    i.e. ``r^|i-j|`` for real ``r``. For complex ``r`` the symmetric ``r^|i-j|`` would not
    be Hermitian (not a covariance); this is Sionna's ``exp_corr_mat`` convention.

    Parameters
    ----------
    r : complex, |r| <= 1
    n : int >= 1

    Returns
    -------
    numpy.ndarray, [n, n], complex128
    """
    i = np.arange(n)
    lag = i[:, None] - i[None, :]
    low = complex(r) ** np.abs(lag).astype(float)
    return np.where(lag >= 0, low, np.conj(low)).astype(np.complex128)


def psd_sqrt(R: np.ndarray) -> np.ndarray:
    """Hermitian square root ``R^{1/2}`` of a positive semi-definite matrix (via ``eigh``)."""
    vals, vecs = np.linalg.eigh(R)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.conj().T


def _check_corr(name: str, value, owner: str):
    """A complex scalar with |r| <= 1 or a Hermitian PSD matrix with unit diagonal."""
    if value is None:
        return None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        r = complex(value)
        if not (np.isfinite(r.real) and np.isfinite(r.imag)) or abs(r) > 1:
            raise ValueError(
                f"The '{name}' parameter of {owner} must be a complex scalar with |r| <= 1 "
                f"or a correlation matrix; got {value!r}."
            )
        return r
    R = np.asarray(value)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or not np.issubdtype(R.dtype, np.number):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a complex scalar or a square "
            f"[n, n] matrix; got shape {R.shape}."
        )
    R = R.astype(np.complex128)
    ok = (np.all(np.isfinite(R)) and np.allclose(R, R.conj().T, atol=1e-10)
          and np.allclose(np.diag(R), 1.0, atol=1e-10))
    if ok:
        ok = np.linalg.eigvalsh(R).min() >= -1e-10
    if not ok:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite Hermitian positive "
            "semi-definite matrix with unit diagonal (a correlation matrix); got "
            f"{np.array2string(R, precision=3)}."
        )
    return R


@register_channel("correlated-rayleigh",
                  summary="Rayleigh with Kronecker receive (and device) correlation")
class CorrelatedRayleighChannel(ChannelModel):
    """Rayleigh fading with spatial correlation, Kronecker model.

    .. math::
        H = R_{rx}^{1/2}\\, H_w\\, (R_{tx}^{1/2})^T, \\qquad [H_w]_{mk} \\sim \\mathcal{CN}(0,1),

    with ``H`` the ``[n_rx_ant, n_devices]`` matrix of one batch entry (and round), so
    ``E[h_k h_k^H] = R_rx`` for every device. Unit diagonals keep every entry ``CN(0, 1)``
    (``|g|^2 ~ Exp(1)``); only the joint law changes (Kermoal et al., JSAC 2002).

    Parameters
    ----------
    rx_corr : complex scalar or [n_rx_ant, n_rx_ant] matrix
        A scalar ``r`` (``|r| <= 1``) gives :func:`exp_corr_matrix` ``(r, n_rx_ant)``
        at draw time; a matrix must match ``n_rx_ant`` when drawing.
    tx_corr : None, complex scalar or [n_devices, n_devices] matrix
        Correlation across the single-antenna devices (e.g. co-located sensors);
        ``None``: independent devices.
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.
    """

    def __init__(self, *, rx_corr=0.5, tx_corr=None, large_scale=None,
                 precision: str = "double") -> None:
        super().__init__(large_scale=large_scale, precision=precision)
        own = "correlated-rayleigh"
        if rx_corr is None:
            raise ValueError(
                f"The 'rx_corr' parameter of {own} must be a complex scalar with |r| <= 1 "
                "or a correlation matrix; got None."
            )
        self.rx_corr = _check_corr("rx_corr", rx_corr, own)
        self.tx_corr = _check_corr("tx_corr", tx_corr, own)
        self.params = {"rx_corr": self.rx_corr, "tx_corr": self.tx_corr}

    def _sqrt(self, name: str, corr, n: int, size_name: str) -> np.ndarray | None:
        if corr is None:
            return None
        if isinstance(corr, complex):
            return psd_sqrt(exp_corr_matrix(corr, n))
        if corr.shape != (n, n):
            raise ValueError(
                f"The '{name}' parameter of correlated-rayleigh must be a [{size_name}, "
                f"{size_name}] = [{n}, {n}] matrix for this draw; got shape {corr.shape}."
            )
        return psd_sqrt(corr)

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        a = self._sqrt("rx_corr", self.rx_corr, n_rx_ant, "n_rx_ant")
        b = self._sqrt("tx_corr", self.tx_corr, n_devices, "n_devices")
        g = complex_normal(self.shape(batch, n_devices, n_rx_ant, n_rounds), self.precision,
                           rng=rng)
        # Broadcast matmul over the leading [batch, (round)] axes.
        g = a.astype(self.dtype) @ g
        if b is not None:
            g = g @ b.T.astype(self.dtype)
        return g

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        return stats.expon(scale=1.0)
