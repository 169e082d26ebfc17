"""The README's Python examples run as written (in one namespace, in order)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run(tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(blocks))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


def test_readme_scenario_examples_are_valid_scenarios():
    from aircomp_agc.engine.run import check_points
    from aircomp_agc.engine.scenario import parse_scenario

    text = (ROOT / "README.md").read_text()
    first, second = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    scenario = parse_scenario(first)
    assert scenario.experiment == "decoding-error" and scenario.n_points == 2 * 10
    uplink = parse_scenario(second)
    assert uplink.figure.x == "power_dbm" and uplink.n_points == 3
    # Its points pass the experiment's own check too (models built, link budget complete).
    assert check_points(uplink.experiment_fn(), uplink.points()) == {}
