"""The end-to-end fixtures (real upstream index, gateway, isolated pip and uv) shared with tests/e2e."""

from tests.e2e.conftest import clients, dists, start_gateway, static_index, static_root  # noqa: F401
