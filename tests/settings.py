"""Settings for the test suite: a throw-away data folder, fast hashing, the same app otherwise."""

import os
import tempfile

os.environ.setdefault("TERMINFLOW_DATA_DIR", tempfile.mkdtemp(prefix="terminflow-test-"))
os.environ.setdefault("TERMINFLOW_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("TERMINFLOW_FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("TERMINFLOW_SQLITE_SYNCHRONOUS", "NORMAL")
os.environ.setdefault("TERMINFLOW_BASE_URL", "http://testserver")

from terminflow.settings import *  # noqa: F403
