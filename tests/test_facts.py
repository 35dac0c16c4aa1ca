"""Facts, the way pyinfra tests its own: given this output, exactly this fact."""

from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

TESTS_BASE = Path(__file__).parent / "facts"

for _fact_path in sorted(d.name for d in TESTS_BASE.iterdir() if d.is_dir()):
    locals()[_fact_path] = make_fact_tests("facts", _fact_path, TESTS_BASE / _fact_path)
