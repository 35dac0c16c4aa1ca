"""Operations, the way pyinfra tests its own: given these facts and arguments,
exactly these commands."""

from pathlib import Path

from pyinfra_testing.operations import make_operation_tests

TESTS_BASE = Path(__file__).parent / "operations"

for _op_path in sorted(d.name for d in TESTS_BASE.iterdir() if d.is_dir()):
    locals()[_op_path] = make_operation_tests("operations", _op_path, TESTS_BASE / _op_path)
