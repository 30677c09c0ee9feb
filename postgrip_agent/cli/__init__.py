"""The ``postgrip-agent`` command: the local service, an agent runner, workflows, schedules, tasks.

Exit codes: 0 done; 1 the workflow (or what the command acted on) failed or was not found;
2 usage (unknown flags, malformed JSON, a module that does not import, a port in use);
3 the service cannot be reached; 4 a wait (``--timeout``) ran out. Errors are one line on stderr; ``--debug`` adds the traceback.
The service's address comes from ``--address`` or ``POSTGRIP_AGENTORCHESTRATOR_URL`` (default
http://127.0.0.1:4100), its token from ``--token`` or ``POSTGRIP_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import List, Optional

from ._parser import LEVELS, UsageError, build_parser

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"postgrip-agent: error: {message}", file=sys.stderr)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    level = str(getattr(args, "log_level", "INFO" if args.command in ("server", "agent") else "WARNING")).upper()
    if level not in LEVELS:
        return _fail(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}", EXIT_USAGE, False)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug and getattr(args, "log_level", None) is None and args.command not in ("server", "agent"):
        # a one-shot command says what failed once, in its error line: not each retry on the way
        logging.getLogger("postgrip_agent.connection").setLevel(logging.ERROR)
    from ._output import Output  # what a command needs is imported once it is known to run

    out = Output(getattr(args, "output", "table"))
    address = getattr(args, "address", None) or os.environ.get("POSTGRIP_AGENTORCHESTRATOR_URL")
    try:
        client = None
        if getattr(args, "needs_client", True):
            from ..client import Client

            spec = getattr(args, "data_converter", None) or os.environ.get("POSTGRIP_DATA_CONVERTER")
            converter = None
            if spec:
                from ._agent import load_converter

                converter = load_converter(spec)
            client = Client.connect(
                address,
                token=getattr(args, "token", None),
                namespace=getattr(args, "namespace", None) or "default",
                data_converter=converter,
            )
        return int(args.run(client, args, out))
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        code = _exit_code(err, debug)
        if code is None:
            raise
        return code


def _exit_code(err: Exception, debug: bool) -> Optional[int]:
    """Say what failed in one line on stderr and give the exit code; None for an error that is a bug."""
    from ..errors import (
        InvalidArgumentError,
        NotFoundError,
        PostGripAgentError,
        TimeoutFailure,
        TransportError,
        UnauthorizedError,
    )

    if isinstance(err, TimeoutFailure):
        return _fail(str(err), EXIT_TIMEOUT, debug)
    if isinstance(err, UsageError):
        return _fail(str(err), EXIT_USAGE, debug)
    if isinstance(err, TransportError):
        if err.reached_server:
            return _fail(f"the service did not answer in time: {err}", EXIT_FAILED, debug)
        text = str(err)
        hint = (
            ("" if "--address" in text else " (or pass --address)")
            if "POSTGRIP_AGENTORCHESTRATOR_URL" in text
            else " (set --address or POSTGRIP_AGENTORCHESTRATOR_URL)"
        )
        return _fail(f"{err}{hint}", EXIT_UNREACHABLE, debug)
    if isinstance(err, UnauthorizedError):
        return _fail(f"{err}: give the service's token with --token (or POSTGRIP_TOKEN)", EXIT_FAILED, debug)
    if isinstance(err, (InvalidArgumentError, ValueError, TypeError)):
        return _fail(str(err), EXIT_USAGE, debug)
    if isinstance(err, NotFoundError):
        return _fail(f"not found: {err}", EXIT_FAILED, debug)
    if isinstance(err, PostGripAgentError):
        return _fail(str(err), EXIT_FAILED, debug)
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
