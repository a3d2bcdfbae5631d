import functools

import pytest

from weboslb.table import CTable, RefTable

# the C table with its default hash (AES-NI where the CPU has it) and with the portable one
IMPLEMENTATIONS = {"c": CTable, "c-siphash": functools.partial(CTable, hash="siphash"),
                   "ref": RefTable}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make_table(request):
    """A factory for the table under test: each contract test runs on C and on the reference."""
    return IMPLEMENTATIONS[request.param]
