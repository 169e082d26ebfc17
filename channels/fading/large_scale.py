"""Large-scale fading: device drop, distance path loss and log-normal shadowing.

Large scale is one composable piece, :class:`LargeScale`, passed as ``large_scale=`` to
any small-scale model:

>>> from channels import make_channel
>>> from channels.fading import AnnulusDrop, LargeScale, LogDistancePathLoss
>>> ls = LargeScale(drop=AnnulusDrop(r_min_m=10.0, r_max_m=100.0),
...                 path_loss=LogDistancePathLoss(exponent=3.0), shadowing_db=8.0)
>>> model = make_channel("rayleigh", large_scale=ls)
>>> model.draw(4, 3, rng=0).large_scale.shape
(4, 3)

The linear power gain of device ``k`` is

.. math::
    \\beta_k = 10^{-\\mathrm{PL}(d_k)/10} \\cdot 10^{\\sigma_{dB} X_k / 10},
    \\qquad X_k \\sim \\mathcal N(0, 1),

fixed across the receive antennas, rounds and subcarriers of that device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import RngLike, check_real, resolve_rng

__all__ = ["AnnulusDrop", "LargeScale", "LogDistancePathLoss"]


@dataclass(frozen=True)
class AnnulusDrop:
    """Devices dropped uniformly in AREA in an annulus (a disk when ``r_min_m = 0``).

    .. math::
        r = \\sqrt{U (r_{max}^2 - r_{min}^2) + r_{min}^2}, \\qquad U \\sim U[0, 1],

    so that ``P(r <= x) = (x^2 - r_min^2) / (r_max^2 - r_min^2)``; the angle is uniform
    (only the distance matters to the path loss).

    Parameters
    ----------
    r_min_m : float >= 0
        Inner radius [m].
    r_max_m : float > r_min_m
        Outer radius [m].
    """

    r_min_m: float = 0.0
    r_max_m: float = 100.0

    def __post_init__(self) -> None:
        r_min = check_real("r_min_m", self.r_min_m, low=0.0, owner="AnnulusDrop")
        r_max = check_real("r_max_m", self.r_max_m, low=r_min, low_open=True, owner="AnnulusDrop")
        object.__setattr__(self, "r_min_m", r_min)
        object.__setattr__(self, "r_max_m", r_max)

    def distances(self, batch: int, n_devices: int, *, rng: RngLike = None) -> np.ndarray:
        """Horizontal distances ``[batch, n_devices]`` in metres, float64."""
        u = resolve_rng(rng).random((batch, n_devices))
        return np.sqrt(u * (self.r_max_m**2 - self.r_min_m**2) + self.r_min_m**2)


@dataclass(frozen=True)
class LogDistancePathLoss:
    """Log-distance path loss in dB.

    .. math::
        \\mathrm{PL}(d) = \\mathrm{PL}_0 + 10\\,\\alpha \\log_{10}(d / d_0), \\qquad d \\ge d_0.

    ``ref_loss_db = 0`` and ``ref_distance_m = 1`` give the simple ``d^{-alpha}`` power
    gain. 3GPP TR 38.901 forms ``A + B log10(d) + C log10(f_GHz)`` map onto it with
    ``exponent = B / 10``, ``ref_distance_m = 1``, ``ref_loss_db = A + C log10(f_GHz)``
    (e.g. UMi street-canyon LoS: ``A = 32.4``, ``B = 21``, ``C = 20``).

    Parameters
    ----------
    exponent : float > 0
        Path-loss exponent ``alpha``.
    ref_distance_m : float > 0
        Reference distance ``d0`` [m]; devices must not be closer than this.
    ref_loss_db : float
        Loss at ``d0`` [dB].
    """

    exponent: float = 3.0
    ref_distance_m: float = 1.0
    ref_loss_db: float = 0.0

    def __post_init__(self) -> None:
        own = "LogDistancePathLoss"
        object.__setattr__(
            self, "exponent", check_real("exponent", self.exponent, low=0.0, low_open=True,
                                         owner=own)
        )
        object.__setattr__(
            self,
            "ref_distance_m",
            check_real("ref_distance_m", self.ref_distance_m, low=0.0, low_open=True, owner=own),
        )
        object.__setattr__(self, "ref_loss_db", check_real("ref_loss_db", self.ref_loss_db,
                                                            owner=own))

    def loss_db(self, distance_m: np.ndarray) -> np.ndarray:
        """``PL(d)`` in dB for distances ``d >= ref_distance_m`` (any shape)."""
        d = np.asarray(distance_m, dtype=np.float64)
        return self.ref_loss_db + 10.0 * self.exponent * np.log10(d / self.ref_distance_m)


@dataclass(frozen=True)
class LargeScale:
    """Large-scale fading: a drop, a path loss and log-normal shadowing, all optional.

    Parameters
    ----------
    drop : AnnulusDrop or None
        Where devices are; required when ``path_loss`` is given.
    path_loss : LogDistancePathLoss or None
        Distance-dependent loss (``None``: 0 dB).
    shadowing_db : float >= 0
        Standard deviation ``sigma_dB`` of the log-normal shadowing, i.i.d. per device
        and batch entry (0: none). Note ``E[10^{sigma X/10}] = exp((sigma ln10/10)^2/2)``
        is above one: shadowing is median-, not mean-normalized.
    """

    drop: AnnulusDrop | None = None
    path_loss: LogDistancePathLoss | None = None
    shadowing_db: float = 0.0

    def __post_init__(self) -> None:
        own = "LargeScale"
        if self.drop is not None and not isinstance(self.drop, AnnulusDrop):
            raise TypeError(
                f"The 'drop' parameter of {own} must be None or an AnnulusDrop; got "
                f"{type(self.drop).__name__} {self.drop!r}."
            )
        if self.path_loss is not None:
            if not isinstance(self.path_loss, LogDistancePathLoss):
                raise TypeError(
                    f"The 'path_loss' parameter of {own} must be None or a "
                    f"LogDistancePathLoss; got {type(self.path_loss).__name__} "
                    f"{self.path_loss!r}."
                )
            if self.drop is None:
                raise ValueError(
                    f"The 'drop' parameter of {own} must be an AnnulusDrop when path_loss "
                    "is given (path loss needs distances); got None."
                )
            if self.drop.r_min_m < self.path_loss.ref_distance_m:
                raise ValueError(
                    f"The 'drop' parameter of {own} must have r_min_m >= the path loss's "
                    f"ref_distance_m = {self.path_loss.ref_distance_m:g} m (the log-distance "
                    f"law is not valid closer); got r_min_m = {self.drop.r_min_m:g} m."
                )
        object.__setattr__(
            self, "shadowing_db", check_real("shadowing_db", self.shadowing_db, low=0.0,
                                             owner=own)
        )

    @property
    def is_random(self) -> bool:
        return self.drop is not None or self.shadowing_db > 0

    def draw(
        self, batch: int, n_devices: int, *, rng: RngLike = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Linear power gains ``beta`` ``[batch, n_devices]`` (float64) and side information.

        Parameters
        ----------
        batch, n_devices : int
            Output shape ``[batch, n_devices]``.
        rng : None, int, SeedSequence or Generator
            Split into two independent child streams, one for the drop and one for the
            shadowing (adding shadowing leaves the drop of a seed unchanged).

        Returns
        -------
        beta : numpy.ndarray, float64, ``[batch, n_devices]``
        info : dict
            ``distance_m`` (horizontal distance) when there is a drop, ``shadowing_db``
            (the drawn ``sigma X`` values) when there is shadowing.
        """
        rng_drop, rng_shadow = resolve_rng(rng).spawn(2)
        loss_db = np.zeros((batch, n_devices))
        info: dict[str, np.ndarray] = {}
        if self.drop is not None:
            d = self.drop.distances(batch, n_devices, rng=rng_drop)
            info["distance_m"] = d
            if self.path_loss is not None:
                loss_db += self.path_loss.loss_db(d)
        if self.shadowing_db > 0:
            s = self.shadowing_db * rng_shadow.standard_normal((batch, n_devices))
            info["shadowing_db"] = s
            loss_db -= s
        return 10.0 ** (-loss_db / 10.0), info
