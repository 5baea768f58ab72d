"""Fixtures for every test folder; each one lives next to its stand-in in tests/servers/."""

pytest_plugins = ("servers.sshd",)
pytest_plugins += ("servers.github",)  # the GitHub REST stand-in and its `github_standin` fixture
