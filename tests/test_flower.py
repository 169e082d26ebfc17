"""The Flower strategy wrapper, called with real Flower types (no simulation engine)."""

from __future__ import annotations

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

from aircomp_agc.aggregation import CodedAirComp  # noqa: E402
from aircomp_agc.coding import make_code  # noqa: E402
from aircomp_agc.learning.flower import CodedAirCompStrategy  # noqa: E402


class _Proxy(ClientProxy):
    def get_properties(self, ins, timeout, group_id):  # pragma: no cover - unused
        raise NotImplementedError

    def get_parameters(self, ins, timeout, group_id):  # pragma: no cover - unused
        raise NotImplementedError

    def fit(self, ins, timeout, group_id):  # pragma: no cover - unused
        raise NotImplementedError

    def evaluate(self, ins, timeout, group_id):  # pragma: no cover - unused
        raise NotImplementedError

    def reconnect(self, ins, timeout, group_id):  # pragma: no cover - unused
        raise NotImplementedError


def _round(n_clients=6, seed=0):
    rng = np.random.default_rng(seed)
    glob = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    results = []
    for c in range(n_clients):
        local = [a + 0.1 * rng.standard_normal(a.shape) for a in glob]
        res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(local), int(10 + c), {})
        results.append((_Proxy(f"client-{c}"), res))
    return glob, results


def _fedavg(glob, results):
    params, _ = FedAvg().aggregate_fit(1, results, [])
    return parameters_to_ndarrays(params)


def test_ideal_channel_reproduces_fedavg():
    glob, results = _round()
    agg = CodedAirComp(code=make_code("uncoded", n=6), channel="awgn",
                       power_control="zero_forcing", noise_var=1e-14)
    strategy = CodedAirCompStrategy(FedAvg(), agg, rng=0)
    strategy.configure_fit(1, ndarrays_to_parameters(glob), _NoClients())
    params, metrics = strategy.aggregate_fit(1, results, [])
    for a, b in zip(parameters_to_ndarrays(params), _fedavg(glob, results), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert metrics["aggregation_error"] < 1e-10 and metrics["transmitting"] == 6


def test_noisy_coded_channel_and_missing_clients():
    glob, results = _round()
    agg = CodedAirComp(code=make_code("bgc", n=6, row_weight=2, rng=0), channel="rayleigh",
                       snr_db=10.0)
    strategy = CodedAirCompStrategy(FedAvg(), agg, client_ids=[f"client-{c}" for c in range(6)],
                                    rng=1)
    strategy.configure_fit(1, ndarrays_to_parameters(glob), _NoClients())
    params, metrics = strategy.aggregate_fit(1, results[:4], [])  # two clients failed
    new = parameters_to_ndarrays(params)
    assert [a.shape for a in new] == [(3, 4), (4,)]
    assert metrics["transmitting"] <= 4 and metrics["aggregation_error"] > 0
    with pytest.raises(ValueError, match="one per partition"):
        CodedAirCompStrategy(FedAvg(), agg, client_ids=["a", "b"])


class _NoClients:
    """configure_fit of FedAvg samples from a client manager; none are needed here."""

    def num_available(self):
        return 0

    def sample(self, num_clients, min_num_clients=None, criterion=None):
        return []

    def wait_for(self, num_clients, timeout=86400):
        return True
