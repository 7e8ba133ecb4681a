from campaigns.tests.dialer_world import _carrier_server, carrier  # noqa: F401 (fixtures)
