from tests.moderation.conftest import travel  # noqa: F401 - the same clock for session and lock-out expiry
