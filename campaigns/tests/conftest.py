from calls.tests.conftest import build_session  # noqa: F401 (fixtures)
from campaigns.tests.dialer_world import _carrier_server, carrier  # noqa: F401 (fixtures)
from telephony.tests.conftest import twilio_rest  # noqa: F401 (fixtures)
