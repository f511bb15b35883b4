"""scikit-learn's own tests of its MLP, run against mlp.sklearn: the installed
``sklearn/neural_network/tests/test_mlp.py`` is copied at test time, its one import of the
estimators swapped for ``from mlp.sklearn import MLPClassifier, MLPRegressor``, and run by pytest
in a child process on each backend (the estimators' ``backend`` default set there)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")


IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"


SWAPPED = "from mlp.sklearn import MLPClassifier, MLPRegressor"


# Tests allowed to fail, each with its reason; only tests that read private attributes may be here.
ALLOWED_TO_FAIL: dict[str, str] = {}


CONFTEST = '''
import os

import pytest

backend = os.environ["MLP_SUITE_BACKEND"]
from mlp.sklearn import MLPClassifier, MLPRegressor

for cls in (MLPClassifier, MLPRegressor):  # the backend these tests train on
    cls.__init__.__kwdefaults__["backend"] = backend


@pytest.fixture
def global_random_seed():
    """scikit-learn's fixture, at its default seed (its conftest is not the copy's)."""
    return 42
'''


def _suite_source() -> Path:
    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"scikit-learn {sklearn.__version__} installed without its tests: {path} is missing")
        pytest.skip(f"scikit-learn {sklearn.__version__} is installed without its tests ({path} is missing)")
    return path


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", "torch", "jax"])
def test_scikit_learns_mlp_suite_with_the_import_swapped(backend, tmp_path):
    pytest.importorskip(backend)
    source = _suite_source().read_text()
    assert source.count(IMPORT) == 1, f"the estimators' import line changed in scikit-learn {sklearn.__version__}"
    (tmp_path / "test_mlp_swapped.py").write_text(source.replace(IMPORT, SWAPPED))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    report = tmp_path / "report.xml"
    env = {**os.environ, "MLP_SUITE_BACKEND": backend, "JAX_ENABLE_X64": "1"}  # the suite fits float64 data
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", f"--junitxml={report}",
         "--rootdir", str(tmp_path), str(tmp_path / "test_mlp_swapped.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    cases = ET.parse(report).getroot().iter("testcase")
    outcome, reasons = {}, {}
    for case in cases:
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if skipped is not None:
            reasons[case.get("name")] = skipped.get("message", "")
        outcome[case.get("name")] = "failed" if bad is not None else "skipped" if skipped is not None else "passed"
    failed = sorted(name for name, what in outcome.items() if what == "failed")
    unexpected = [name for name in failed if name.split("[")[0] not in ALLOWED_TO_FAIL]
    assert not unexpected, (
        f"{len(unexpected)} of scikit-learn's tests fail on {backend}: {unexpected}\n" + run.stdout[-6000:]
    )
    assert len(outcome) >= 50, f"only {len(outcome)} tests collected: {run.stdout[-3000:]}"
    skipped = [name for name, what in outcome.items() if what == "skipped"]
    # off CI, scikit-learn's own skips of a test whose optional module is missing (pandas) are its own
    missing = {n for n in skipped if "could not import" in reasons[n] and os.environ.get("CI") != "true"}
    assert not set(skipped) - missing, f"skipped: {[(n, reasons[n]) for n in skipped if n not in missing]}"
    print(f"scikit-learn {sklearn.__version__} test_mlp.py on {backend}: {outcome}")
