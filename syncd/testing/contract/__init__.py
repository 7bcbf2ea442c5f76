"""The behaviour every sink and every provider must have, as reusable pytest test classes.

:class:`SinkContract` (with :class:`StagerContract` and :class:`LeaserContract`
for the optional sink capabilities) and :class:`ProviderContract`; a plugin
finds them through :mod:`syncd.plugin` too.

A sink's test module subclasses :class:`SinkContract` and overrides four
fixtures; the inherited tests then drive the sink through the real
:class:`~syncd.core.engine.Engine`, so they pin down exactly what operators rely on::

    class TestMySink(SinkContract):
        @pytest.fixture
        def sink(self): ...
        @pytest.fixture
        def read_back(self, sink): ...      # secret -> the text a consumer sees
        @pytest.fixture
        def write_foreign(self, sink): ...  # (secret, text): someone else writes
        @pytest.fixture
        def create_unmanaged(self, sink): ... # (secret, text): pre-existing, not syncd's
        @pytest.fixture
        def write_raw_mark(self, sink): ...   # optional: (secret, rotated_at, role) as stored

The ownership tests need no fixture: a second :class:`SyncWorld` with another
``instance`` or target name plays the other deployment.

``write_raw_mark`` records rotation metadata verbatim, as someone editing the
store could; without it the hostile-metadata test is skipped.

``read_back`` may read values (tests may); syncd itself never does. The
``text`` passed to the helpers is what the secret should hold as a string; a
key-value store may store it under a key of its choosing.

A provider's test module subclasses :class:`ProviderContract`, usually over the
provider's API stand-in (:mod:`syncd.testing.casedev`, :mod:`syncd.testing.neon`)::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def provider(self): ...              # answers for target and not missing_target
        @pytest.fixture
        def target(self): ...                # a Target the provider has a connection for
        @pytest.fixture
        def missing_target(self): ...        # a Target whose project does not exist
        @pytest.fixture
        def unreachable_provider(self): ...  # optional: its API cannot be reached
        @pytest.fixture
        def refused_provider(self): ...      # optional: its credentials are refused
"""

from syncd.testing.contract.capabilities import LeaserContract, StagerContract
from syncd.testing.contract.providers import ProviderContract
from syncd.testing.contract.sinks import SinkContract
from syncd.testing.contract.world import MarkWriter, ReadBack, SyncWorld, Writer

__all__ = [
    "LeaserContract",
    "MarkWriter",
    "ProviderContract",
    "ReadBack",
    "SinkContract",
    "StagerContract",
    "SyncWorld",
    "Writer",
]
