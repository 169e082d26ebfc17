"""The shared validation helpers and the name registry."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc._checks import Registry, check_choice, check_int, check_real, resolve_rng


def test_resolve_rng_accepts_seed_generator_and_seedsequence():
    g = np.random.default_rng(3)
    assert resolve_rng(g) is g
    assert resolve_rng(5).integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)
    ss = np.random.SeedSequence(7)
    assert resolve_rng(ss).random() == np.random.default_rng(np.random.SeedSequence(7)).random()
    with pytest.raises(TypeError, match="'rng' parameter"):
        resolve_rng("seed")
    with pytest.raises(ValueError, match="non-negative"):
        resolve_rng(-1)


def test_check_int_message_names_parameter_range_and_value():
    assert check_int("s", 3, low=0, high=5) == 3
    assert check_int("s", 3.0, low=0) == 3
    msg = r"The 's' parameter of f must be an int in \[0, 5\]; got 7"
    with pytest.raises(ValueError, match=msg):
        check_int("s", 7, low=0, high=5, owner="f")
    with pytest.raises(TypeError, match="got str"):
        check_int("s", "3")
    with pytest.raises(TypeError):
        check_int("flag", True)


def test_check_real_open_bounds_and_nan():
    assert check_real("p", 0.5, low=0, high=1, high_open=True) == 0.5
    with pytest.raises(ValueError, match=r"\(0, inf\); got 0.0"):
        check_real("noise_var", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match="got nan"):
        check_real("x", float("nan"))


def test_check_choice_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean 'lstsq'"):
        check_choice("method", "lsqtr", ["lstsq", "one-step", "exact"])


def test_registry_register_get_and_suggest():
    reg: Registry = Registry("widget")

    @reg.register("alpha", summary="first")
    def alpha():
        """Alpha widget."""

    reg.register("beta", lambda: None)
    assert reg.names() == ["alpha", "beta"]
    assert reg.get("alpha") is alpha and "alpha" in reg and len(reg) == 2
    assert reg.summary("alpha") == "first"
    with pytest.raises(ValueError, match="Unknown widget 'alpah'.*Did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", lambda: None)
