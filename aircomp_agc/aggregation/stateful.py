r"""A stateful aggregator for training: channel and straggler state carried across rounds.

One call per round, ``agg.step(G)``, on ``batch`` independent trajectories. The wrapped
aggregator (``inner``) does the round; this class draws what persists between rounds and
hands it over through the inner aggregator's hooks ``round(..., available=, h=)``:

- **channel** (``h`` ``[batch, M, n(, F)]``): the large-scale part (the drop) is drawn once
  and kept. The small-scale part

  - follows the model's AR(1) law when the model is ``time_correlated`` (registry tag)
    and states its lag-one correlation ``rho`` in its ``params`` (``"gauss-markov"``:
    ``rho = J0(2 pi f_D T)``, Jakes)

    .. math:: g_t = \rho\, g_{t-1} + \sqrt{1 - \rho^2}\, w_t, \qquad
              w_t \sim \mathcal{CN}(0, 1),

    so ``E[g_t g_{t+l}^*] = rho^|l|`` and every round is ``CN(0, 1)``, for as many rounds
    as asked;
  - is drawn in one piece with ``n_rounds=horizon`` for any other time-correlated model
    (``horizon`` must then be given);
  - is drawn afresh each round (block fading) for models that are not time correlated.
- **stragglers** (``available`` ``[batch, n]``): the two-state Markov chain of
  :class:`~aircomp_agc.coding.MarkovStragglers` (started from its stationary law, fast ->
  slow with probability ``a``, slow -> fast with ``b``) is run one transition per round;
  another ``stateful`` model is drawn in one piece with ``sample_rounds(...,
  n_rounds=horizon)``; a memoryless model is sampled afresh each round.
- **error feedback** and other compressor state live in the wrapped layers
  (:class:`~aircomp_agc.aggregation.compress.CommonSupportTopK` with
  ``error_feedback=True``, ...); :meth:`StatefulAggregator.reset` resets them too;
- **receiver state**: an inner aggregator with ``observe`` (an online gradient model) is
  told each round's aggregate.

A straggler model of the inner aggregator is applied on top, independently each round;
a *stateful* one there is refused (its state would restart every round): pass it here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from channels import CHANNEL_TAGS, CHANNELS, ChannelModel, complex_normal, make_channel

from .._checks import check_int, resolve_rng
from ..coding import MarkovStragglers, StragglerModel, make_stragglers, straggler_tags
from .messages import check_gradients

__all__ = ["StatefulAggregator", "physical_aggregator"]


def physical_aggregator(agg: Any) -> Any:
    """The innermost aggregator of a stack of wrappers (following ``.inner``)."""
    seen = agg
    while hasattr(seen, "inner"):
        seen = seen.inner
    return seen


def _channel_tags(model: ChannelModel) -> dict:
    """Tags of a channel model instance: those of the registration that built it."""
    name = getattr(model, "name", "")
    if name and name in CHANNELS:
        return dict(CHANNELS.tags(name))
    for registered in CHANNELS:
        if CHANNELS.get(registered) is type(model):
            return dict(CHANNELS.tags(registered))
    return {**CHANNEL_TAGS, **dict(getattr(type(model), "tags", {}) or {})}


class StatefulAggregator:
    """Carry channel and straggler state across rounds; one :meth:`step` per round.

    Parameters
    ----------
    inner : aggregator
        ``CodedAirComp``, ``DigitalAggregation`` or a wrapper of one (compressors); its
        ``round(G, *, batch, available, h, rng)`` does the round.
    batch : int >= 1
        Independent trajectories.
    channel : str or ChannelModel, optional
        Channel process (default: the inner aggregator's channel model).
    stragglers : StragglerModel or str, optional
        Straggler process (e.g. ``make_stragglers("markov", ...)``); default none beyond
        the inner aggregator's own (memoryless) model.
    horizon : int >= 1, optional
        Rounds drawn in one piece for processes that can only be drawn that way (a
        time-correlated channel without ``rho``, a stateful straggler model other than
        the Markov chain). Steps beyond it raise.
    rng : None, int, SeedSequence or Generator
        Stream of the rounds that :meth:`step` is called without ``rng``.

    Examples
    --------
    >>> from aircomp_agc.aggregation import CodedAirComp, GradientModel
    >>> from aircomp_agc.coding import make_code, make_stragglers
    >>> from channels import make_channel
    >>> code = make_code("bgc", n=10, row_weight=3, rng=0)
    >>> agg = StatefulAggregator(
    ...     CodedAirComp(code=code, channel=make_channel("gauss-markov", rho=0.9),
    ...                  noise_var=0.1),
    ...     batch=4, stragglers=make_stragglers("markov", p_fast_to_slow=0.1,
    ...                                         p_slow_to_fast=0.5), rng=0)
    >>> G = GradientModel.from_ratio(0.5, dim=8).sample(10, rng=1)
    >>> agg.step(G).estimate.shape, agg.round_index
    ((4, 8), 1)
    """

    def __init__(self, inner: Any, *, batch: int = 1,
                 channel: str | ChannelModel | None = None,
                 stragglers: StragglerModel | str | None = None, horizon: int | None = None,
                 rng: Any = None) -> None:
        owner = "StatefulAggregator"
        phys = physical_aggregator(inner)
        if not callable(getattr(inner, "round", None)) or not hasattr(phys, "channel"):
            raise TypeError(f"The 'inner' parameter of {owner} must be an aggregator with a "
                            f"'round' method and a channel model (CodedAirComp, "
                            f"DigitalAggregation or a wrapper); got {type(inner).__name__}.")
        inner_strag = getattr(phys, "stragglers", None)
        if inner_strag is not None and straggler_tags(inner_strag)["stateful"]:
            raise ValueError(f"The 'inner' parameter of {owner} has a stateful straggler model "
                             f"({inner_strag!r}), which would restart every round; build the "
                             f"inner aggregator with stragglers=None and pass the model as "
                             f"{owner}(stragglers=...).")
        self.inner = inner
        self.batch = check_int("batch", batch, low=1, owner=owner)
        self.n = int(phys.code.n_workers)
        self.n_rx_ant = int(getattr(phys, "n_rx_ant", 1))
        channel = phys.channel if channel is None else channel
        self.channel = make_channel(channel) if isinstance(channel, str) else channel
        if not isinstance(self.channel, ChannelModel):
            raise TypeError(f"The 'channel' parameter of {owner} must be a channel name or a "
                            f"ChannelModel; got {type(channel).__name__}.")
        if isinstance(stragglers, str):
            stragglers = make_stragglers(stragglers)
        if stragglers is not None and not isinstance(stragglers, StragglerModel):
            raise TypeError(f"The 'stragglers' parameter of {owner} must be a StragglerModel, "
                            f"a name or None; got {type(stragglers).__name__}.")
        self.stragglers = stragglers
        self.horizon = None if horizon is None else check_int("horizon", horizon, low=1,
                                                              owner=owner)
        tags = _channel_tags(self.channel)
        if tags["time_correlated"] and self.channel.params.get("rho") is not None:
            self.channel_process = "ar1"
            self.rho = float(self.channel.params["rho"])
        elif tags["time_correlated"]:
            self.channel_process, self.rho = "sequence", None
        else:
            self.channel_process, self.rho = "block", 0.0
        if stragglers is None:
            self.straggler_process = "none"
        elif isinstance(stragglers, MarkovStragglers):
            self.straggler_process = "markov"
        elif straggler_tags(stragglers)["stateful"]:
            if not callable(getattr(stragglers, "sample_rounds", None)):
                raise ValueError(f"The 'stragglers' parameter of {owner} is stateful but has "
                                 f"no sample_rounds(batch, n_workers, *, n_rounds, rng); got "
                                 f"{stragglers!r}.")
            self.straggler_process = "sequence"
        else:
            self.straggler_process = "memoryless"
        needs = [what for what, proc in (("channel", self.channel_process),
                                         ("stragglers", self.straggler_process))
                 if proc == "sequence"]
        if needs and self.horizon is None:
            raise ValueError(f"The 'horizon' parameter of {owner} must be given for a "
                             f"{' and '.join(needs)} process drawn in one piece (time "
                             f"correlated without a one-step law); got None.")
        self._seed = rng
        self.reset()

    @property
    def code(self):
        return physical_aggregator(self.inner).code

    def __repr__(self) -> str:
        return (f"StatefulAggregator({self.inner!r}, batch={self.batch}, "
                f"channel={self.channel_process}:{self.channel!r}, "
                f"stragglers={self.straggler_process}:{self.stragglers!r})")

    # ----------------------------------------------------------------- state
    def reset(self, *, rng: Any = None) -> None:
        """Start new trajectories (and reset the wrapped layers' state).

        Parameters
        ----------
        rng : None, int, SeedSequence or Generator
            New stream for :meth:`step` without ``rng`` (default: the constructor's seed
            again, so a seeded aggregator replays the same trajectories).
        """
        if rng is not None:
            self._seed = rng
        self._gen = resolve_rng(self._seed)
        self.round_index = 0
        self._large: np.ndarray | None = None
        self._small: np.ndarray | None = None
        self._sequence: np.ndarray | None = None
        self._slow: np.ndarray | None = None
        self._strag_sequence: np.ndarray | None = None
        self._h: np.ndarray | None = None
        self._responding: np.ndarray | None = None
        layer = self.inner
        while layer is not None:
            if callable(getattr(layer, "reset", None)):
                layer.reset()
            if callable(getattr(getattr(layer, "gradient_model", None), "reset", None)):
                layer.gradient_model.reset()  # receiver-side state (OnlineGradientModel)
            layer = getattr(layer, "inner", None)

    @property
    def h(self) -> np.ndarray | None:
        """Channel of the last round, complex ``[batch, M, n(, F)]`` (a copy)."""
        return None if self._h is None else self._h.copy()

    @property
    def responding(self) -> np.ndarray | None:
        """Straggler state of the last round, bool ``[batch, n]`` (``None``: no process)."""
        return None if self._responding is None else self._responding.copy()

    def _next_channel(self, gen: np.random.Generator) -> np.ndarray:
        t, model = self.round_index, self.channel
        if self.channel_process == "sequence":
            if t >= self.horizon:
                raise ValueError(f"The 'horizon' parameter of StatefulAggregator ({self.horizon}"
                                 f") is exhausted: round {t} asked for; call reset().")
            if self._sequence is None:
                draw = model.draw(self.batch, self.n, n_rx_ant=self.n_rx_ant,
                                  n_rounds=self.horizon, rng=gen)
                self._sequence = np.moveaxis(np.asarray(draw.h), 1, 0)
            return self._sequence[t]
        if self._small is None or self.channel_process == "block":
            draw = model.draw(self.batch, self.n, n_rx_ant=self.n_rx_ant, rng=gen)
            small = np.asarray(draw.small_scale)
            if self._large is None:
                self._large = np.asarray(draw.large_scale, dtype=np.float64)
        else:  # AR(1) step of the model's own law
            w = complex_normal(self._small.shape, model.precision, rng=gen)
            small = self.rho * self._small + np.sqrt(1.0 - self.rho**2) * w
        self._small = small
        amp = np.sqrt(self._large).reshape(
            (self.batch, 1, self.n) + (1,) * (small.ndim - 3))
        return (amp * small).astype(model.dtype)

    def _next_available(self, gen: np.random.Generator) -> np.ndarray | None:
        t, model = self.round_index, self.stragglers
        if self.straggler_process == "none":
            return None
        if self.straggler_process == "memoryless":
            return np.asarray(model.sample(self.batch, self.n, rng=gen), dtype=bool)
        if self.straggler_process == "sequence":
            if t >= self.horizon:
                raise ValueError(f"The 'horizon' parameter of StatefulAggregator ({self.horizon}"
                                 f") is exhausted: round {t} asked for; call reset().")
            if self._strag_sequence is None:
                self._strag_sequence = np.asarray(model.sample_rounds(
                    self.batch, self.n, n_rounds=self.horizon, rng=gen), dtype=bool)
            return self._strag_sequence[:, t]
        u = gen.random((self.batch, self.n))
        if self._slow is None:
            self._slow = u < model.stationary_slow
        else:
            self._slow = np.where(self._slow, u >= model.p_slow_to_fast,
                                  u < model.p_fast_to_slow)
        return ~self._slow

    # ----------------------------------------------------------------- rounds
    def step(self, gradients, *, rng: Any = None):
        """One round on every trajectory; advances the channel and straggler state.

        Parameters
        ----------
        gradients : float [k, D] or [batch, k, D]
            Partition gradients of this round (shared, or one set per trajectory).
        rng : None, int, SeedSequence or Generator
            This round's randomness (default: the aggregator's own stream).

        Returns
        -------
        The inner aggregator's result (``RoundResult`` for ``CodedAirComp``).
        """
        g = check_gradients(self.code, gradients, "StatefulAggregator.step")
        if g.ndim == 3 and g.shape[0] != self.batch:
            raise ValueError(f"The 'gradients' parameter of StatefulAggregator.step has a batch "
                             f"of {g.shape[0]}; the aggregator carries {self.batch} "
                             f"trajectories.")
        gen = self._gen if rng is None else resolve_rng(rng)
        chan_rng, strag_rng, round_rng = gen.spawn(3)
        h = self._next_channel(chan_rng)
        avail = self._next_available(strag_rng)
        kwargs = {"h": h} if avail is None else {"h": h, "available": avail}
        result = self.inner.round(g, batch=self.batch, **kwargs, rng=round_rng)
        if callable(getattr(self.inner, "observe", None)):  # receiver-side state
            self.inner.observe(np.asarray(result.estimate))
        self._h, self._responding = h, avail
        self.round_index += 1
        return result

    def round(self, gradients, *, batch: int | None = None, rng: Any = None):
        """:meth:`step` under the aggregator call ``round(G, *, batch, rng)``.

        ``batch`` must be the aggregator's (or None), so :func:`aircomp_agc.learning.train`
        and :func:`~aircomp_agc.aggregation.testing.check_aggregator` can drive it.
        """
        if batch is not None and batch != self.batch:
            raise ValueError(f"The 'batch' parameter of StatefulAggregator.round must be the "
                             f"aggregator's ({self.batch}); got {batch}.")
        return self.step(gradients, rng=rng)
