"""Issue 4's fault matrix (the rows are in tests/support/fault_matrix.py): one provider or AWS fault per
row, each with its asserted outcome, and in every row exactly one outcome for the upload (a cutout xor a
failure record) and at most one submission. Here the rows that run on the module's stack."""

import pytest

from tests.support.fault_matrix import SHARED_ROWS, run_row


@pytest.mark.parametrize(
    ("row", "faults", "parameters", "expected"), SHARED_ROWS, ids=[r[0] for r in SHARED_ROWS]
)
def test_fault_matrix(pipeline, row, faults, parameters, expected):
    run_row(pipeline, row, faults, expected)
