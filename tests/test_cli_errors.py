"""The CLI's errors name their cause once: refused, DNS, a malformed address, a missing token."""

from __future__ import annotations

from postgrip_agent.server import LocalServer

from .test_cli import cli, one_line_error


def _single_line(done) -> None:  # type: ignore[no-untyped-def]
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # no retry warnings before it


def test_a_refused_connection_is_one_line_naming_the_fix_once() -> None:
    done = cli("workflow", "list", address="http://127.0.0.1:1", check=3)
    one_line_error(done, "Connection refused", "postgrip-agent server")
    _single_line(done)
    assert done.stderr.count("POSTGRIP_AGENTORCHESTRATOR_URL") == 1


def test_a_name_that_does_not_resolve_says_so() -> None:
    done = cli("workflow", "list", address="http://no-such-host.invalid:4100", check=3)
    one_line_error(done, "cannot resolve host 'no-such-host.invalid' (DNS)")
    _single_line(done)
    assert "refused" not in done.stderr


def test_a_malformed_address_is_refused_before_anything_is_sent() -> None:
    for address in ("htp:/nonsense", "localhost:41x", "127.0.0.1:70000"):
        done = cli("workflow", "list", address=address, check=2)
        one_line_error(done, "is not a service URL", "http://HOST:PORT")


def test_a_missing_token_says_to_give_it() -> None:
    with LocalServer(auth_token="cli-secret") as server:
        done = cli("workflow", "list", address=server.address, check=1)
        one_line_error(done, "--token")
        assert cli("workflow", "list", "--token", "cli-secret", address=server.address).returncode == 0
