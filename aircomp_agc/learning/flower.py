"""A Flower strategy that aggregates client updates through a coded over-the-air channel.

Optional: ``pip install "aircomp-agc[flower]"`` (plain ``flwr`` with ``protobuf < 6``:
``flwr[simulation]`` pins protobuf >= 6, which TensorFlow 2.19 refuses, so Flower's
Ray-based simulation engine is not part of the extra).

:class:`CodedAirCompStrategy` wraps any inner strategy the way Flower's own wrappers do
(``DifferentialPrivacyClientSideFixedClipping``): configuration, evaluation and metric
aggregation are the inner strategy's; only the model update goes through the channel.
Clients are the partitions of the code, in the order of ``client_ids`` (default: the sorted
ids of the first round's clients). Round ``t``'s partition update of client ``j`` is
``(n_j / N) (w_j - w_t)`` (``n_j`` its examples, ``N`` their total over the round), so the
exact sum is FedAvg's update; the aggregator estimates it and the new global model is
``w_t`` plus the estimate. Clients that failed or were not sampled cannot respond (their
updates are zero, and they are stragglers for the code). With a code that replicates
partitions, worker ``i``'s coded message is formed at the server from the updates its row
of ``B`` names: a simulation of gradient coding, since Flower clients hold only their own
data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from flwr.common import (
        FitRes,
        Parameters,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server.strategy import Strategy
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise ImportError(
        "aircomp_agc.learning.flower needs Flower: pip install \"aircomp-agc[flower]\"."
    ) from exc

from .._checks import resolve_rng

__all__ = ["CodedAirCompStrategy"]


class CodedAirCompStrategy(Strategy):
    """Strategy wrapper: the inner strategy's model update, estimated over the air.

    Parameters
    ----------
    strategy : flwr.server.strategy.Strategy
        The inner strategy (e.g. ``FedAvg``); it configures rounds, evaluates and
        aggregates metrics.
    aggregator : CodedAirComp or compatible
        Has ``code`` (``n_partitions`` = number of clients) and
        ``round(G, batch=1, available=mask, rng=...)``.
    client_ids : sequence of str, optional
        Client id of each partition (default: the first round's clients, sorted).
    rng : None, int, SeedSequence or Generator
        Randomness of the channel, stragglers and noise over all rounds.
    """

    def __init__(self, strategy: Strategy, aggregator: Any, *, client_ids=None,
                 rng=None) -> None:
        super().__init__()
        if not isinstance(strategy, Strategy):
            raise TypeError("The 'strategy' parameter of CodedAirCompStrategy must be a Flower "
                            f"Strategy; got {type(strategy).__name__}.")
        if not hasattr(aggregator, "round") or not hasattr(aggregator, "code"):
            raise TypeError("The 'aggregator' parameter of CodedAirCompStrategy must be a "
                            f"CodedAirComp (or compatible); got {type(aggregator).__name__}.")
        self.strategy = strategy
        self.aggregator = aggregator
        self.client_ids = None if client_ids is None else [str(c) for c in client_ids]
        if self.client_ids is not None and len(self.client_ids) != aggregator.code.n_partitions:
            raise ValueError(f"The 'client_ids' parameter of CodedAirCompStrategy must name "
                             f"{aggregator.code.n_partitions} clients (one per partition); "
                             f"got {len(self.client_ids)}.")
        self.rng = resolve_rng(rng)
        self.current: list[np.ndarray] | None = None
        self.history: list[dict[str, float]] = []

    def __repr__(self) -> str:
        return f"CodedAirCompStrategy({self.strategy!r}, {self.aggregator!r})"

    # ----------------------------------------------------------------- delegation
    def initialize_parameters(self, client_manager):
        params = self.strategy.initialize_parameters(client_manager)
        if params is not None:
            self.current = parameters_to_ndarrays(params)
        return params

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager):
        self.current = parameters_to_ndarrays(parameters)
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager):
        return self.strategy.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round: int, results, failures):
        return self.strategy.aggregate_evaluate(server_round, results, failures)

    def evaluate(self, server_round: int, parameters: Parameters):
        return self.strategy.evaluate(server_round, parameters)

    # ----------------------------------------------------------------- the channel
    def aggregate_fit(self, server_round: int, results: list[tuple[Any, FitRes]], failures):
        """Estimate the FedAvg update of the clients' results through the aggregator."""
        _, metrics = self.strategy.aggregate_fit(server_round, results, failures)
        if not results:
            return None, metrics
        if self.current is None:
            raise ValueError("CodedAirCompStrategy.aggregate_fit needs the round's global "
                             "parameters: call configure_fit (or initialize_parameters) first.")
        if self.client_ids is None:
            self.client_ids = sorted(str(proxy.cid) for proxy, _ in results)
        k = self.aggregator.code.n_partitions
        if len(self.client_ids) != k:
            raise ValueError(f"The aggregator's code has {k} partitions but there are "
                             f"{len(self.client_ids)} clients.")
        index = {cid: j for j, cid in enumerate(self.client_ids)}
        shapes = [a.shape for a in self.current]
        flat_global = np.concatenate([a.ravel() for a in self.current]).astype(np.float64)
        G = np.zeros((k, flat_global.size))
        available = np.zeros(k, dtype=bool)
        total = sum(res.num_examples for _, res in results)
        for proxy, res in results:  # one entry per reporting client: a handful, not a batch
            j = index.get(str(proxy.cid))
            if j is None:
                raise ValueError(f"Client {proxy.cid!r} is not one of the code's partitions "
                                 f"{self.client_ids}.")
            w = np.concatenate([a.ravel() for a in parameters_to_ndarrays(res.parameters)])
            G[j] = (res.num_examples / total) * (w - flat_global)
            available[j] = True
        out = self.aggregator.round(G, batch=1, available=available[None], rng=self.rng)
        new = flat_global + np.asarray(out.estimate)[0]
        arrays, pos = [], 0
        for shape, ref in zip(shapes, self.current, strict=True):
            size = int(np.prod(shape))
            arrays.append(new[pos:pos + size].reshape(shape).astype(ref.dtype))
            pos += size
        exact = G.sum(0)
        record = {"aggregation_error": float(np.sum((out.estimate[0] - exact) ** 2)),
                  "update_energy": float(exact @ exact)}
        plan = getattr(out, "plan", None)
        if plan is not None:
            record["transmitting"] = float(plan.responders.sum())
        self.history.append(record)
        return ndarrays_to_parameters(arrays), {**metrics, **record}
