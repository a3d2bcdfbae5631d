import pytest

from weboslb.table import CTable, RefTable

IMPLEMENTATIONS = {"c": CTable, "ref": RefTable}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make_table(request):
    """A factory for the table under test: each contract test runs on C and on the reference."""
    return IMPLEMENTATIONS[request.param]
