from tests.webhooks.receiver import receiver  # noqa: F401 (the fixture of this folder's tests)
