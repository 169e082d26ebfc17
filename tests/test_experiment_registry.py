"""The experiment registry: registration contract, name and module:function resolution."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from aircomp_agc.experiments import (
    EXPERIMENTS,
    experiment_outputs,
    experiment_parameters,
    get_experiment,
    import_modules,
    list_experiments,
    register_experiment,
)
from tests import engine_fixtures

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registered():
    names: list[str] = []

    def add(name: str, fn, **kw):
        register_experiment(name, **kw)(fn)
        names.append(name)
        return fn

    yield add
    for name in names:  # keep tests independent: leave no registration behind
        if name in EXPERIMENTS:
            EXPERIMENTS.unregister(name)


def test_register_and_resolve_by_name(registered):
    def my_exp(*, rng, n_trials, mu: float = 0.0):
        """Gaussian mean."""
        return {"x": rng.normal(mu, 1.0, size=n_trials)}

    registered("test-registry-gauss", my_exp, outputs={"x": "trial"})
    assert get_experiment("test-registry-gauss") is my_exp
    (entry,) = [e for e in list_experiments() if e.name == "test-registry-gauss"]
    assert entry.summary == "Gaussian mean." and entry.tags["outputs"] == {"x": "trial"}
    assert [(p.name, p.default, p.required) for p in entry.parameters] == [("mu", 0.0, False)]
    assert my_exp.outputs == {"x": "trial"}
    with pytest.raises(ValueError, match=r"Did you mean 'test-registry-gauss'\?"):
        get_experiment("test-registry-gaus")
    with pytest.raises(ValueError, match="already registered"):
        register_experiment("test-registry-gauss")(my_exp)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda *, n_trials: {}, r"must accept the keyword argument 'rng'"),
        (lambda *, rng: {}, r"must accept the keyword argument 'n_trials'"),
        (lambda rng, n_trials, /: {}, r"takes 'rng' positional-only"),
        (lambda a, /, *, rng, n_trials: {}, r"required positional-only parameter 'a'"),
    ],
)
def test_registration_checks_the_contract(fn, match):
    with pytest.raises(TypeError, match=match):
        register_experiment("test-registry-bad")(fn)
    assert "test-registry-bad" not in EXPERIMENTS


def test_kwargs_experiments_satisfy_the_contract(registered):
    registered("test-registry-kw", lambda **kw: {})
    assert "test-registry-kw" in EXPERIMENTS


def test_module_function_refs():
    assert get_experiment("tests.engine_fixtures:cheap") is engine_fixtures.cheap
    for ref, exc, match in [
        ("tests.engine_fixtures:nope", ValueError, r"has no 'nope'\.$"),
        ("tests.engine_fixtures:chep", ValueError, r"has no 'chep'\. Did you mean 'cheap'\?"),
        ("tests.engine_fixtures:__all__", TypeError, r"is not callable; got list"),
        ("no_such_module_xyz:f", ValueError, r"cannot import 'no_such_module_xyz'"),
        ("a b:c", ValueError, r"Python identifiers\); got 'a b:c'"),
        ("os:path:join", ValueError, r"Python identifiers"),
        ("os:getcwd", TypeError, r"must accept the keyword argument 'rng'"),
        (3, TypeError, r"got int 3"),
    ]:
        with pytest.raises(exc, match=match):
            get_experiment(ref)


def test_module_refs_resolve_from_the_working_directory_without_sys_path(tmp_path):
    # What the console script sees: the repository root is the cwd but not on sys.path.
    code = (
        "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.', sys.argv[1])]; "
        "from aircomp_agc.experiments import get_experiment; "
        "print(get_experiment('tests.engine_fixtures:cheap').__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "cheap"


def test_broken_user_module_gives_one_line(tmp_path, monkeypatch):
    (tmp_path / "broken_exp_mod.py").write_text("raise RuntimeError('boom\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"cannot import 'broken_exp_mod' \(RuntimeError: boom\)"):
        get_experiment("broken_exp_mod:f")


def test_experiment_parameters_drop_engine_arguments_and_evaluate_annotations():
    params = experiment_parameters(engine_fixtures.typed)
    assert list(params) == ["n", "code", "snr_db", "flag", "weights", "mode", "label"]
    assert params["snr_db"].annotation is float and params["snr_db"].default == 10.0
    assert params["n"].default is inspect.Parameter.empty
    kw = experiment_parameters(engine_fixtures.open_ended)
    assert [p.kind for p in kw.values()] == [inspect.Parameter.VAR_KEYWORD]


def test_builtin_experiments_are_listed_with_declared_outputs():
    entries = list_experiments()
    names = [e.name for e in entries]
    assert names == sorted(names)
    assert {"aircomp-mse", "decoding-error", "storage-frontier"} <= set(names)
    for entry in entries:
        fn = get_experiment(entry.name)
        assert [p.name for p in entry.parameters] == list(experiment_parameters(fn))
        if entry.name in ("aircomp-mse", "decoding-error", "storage-frontier"):
            assert experiment_outputs(fn) == entry.tags["outputs"] and entry.tags["outputs"]
            assert all(p.doc for p in entry.parameters), entry.name  # describe shows them


def test_outputs_declaration_is_checked():
    with pytest.raises(TypeError, match="'outputs'.*'trial', 'scalar' or 'curve'"):
        register_experiment("test-registry-outputs", outputs={"x": "samples"})
    assert "test-registry-outputs" not in EXPERIMENTS


def test_import_modules_imports_or_says_why(tmp_path, monkeypatch):
    (tmp_path / "reg_mod_xyz.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import_modules(["reg_mod_xyz"])
    assert sys.modules["reg_mod_xyz"].LOADED
    with pytest.raises(ValueError, match=r"Cannot import 'no_such_mod_xyz' \(ModuleNotFoundError"):
        import_modules(["no_such_mod_xyz"])
    with pytest.raises(ValueError, match="module path such as 'mypkg.models'; got 'a:b'"):
        import_modules(["a:b"])
