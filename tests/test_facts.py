"""Facts, the way pyinfra tests its own: given this output, exactly this fact."""

from pathlib import Path

from pyinfra_testing.facts import make_fact_tests

TESTS_BASE = Path(__file__).parent / "facts"

for _fact_path in sorted(d.name for d in TESTS_BASE.iterdir() if d.is_dir()):
    locals()[_fact_path] = make_fact_tests("facts", _fact_path, TESTS_BASE / _fact_path)


def test_every_fact_fixture_says_whether_a_host_gave_its_output():
    """Each fixture's first line says where its output comes from: "Captured"
    (read from a real host: python -m lab.capture) or "Constructed" (written to
    the command's format, e.g. for RHEL, which cannot run here)."""
    for path in sorted(TESTS_BASE.glob("*/*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first.startswith(("# Captured", "# Constructed")), f"{path}: {first}"
