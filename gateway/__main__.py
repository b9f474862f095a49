"""``python -m gateway --config FILE``: validate the config, then serve.

A bad config exits with status 2 and the list of problems before anything listens.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from gateway.app import create_app
from gateway.config import CONFIG_PATH_ENV, ConfigError, load_config
from gateway.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", default=os.environ.get(CONFIG_PATH_ENV), help="YAML/JSON file")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error(f"--config (or ${CONFIG_PATH_ENV}) is required")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"config ok: {len(config.models)} model(s), region {config.region}")
        return 0
    configure_logging(config.observability.log_level)
    # The event loop shares the GIL with the feature-read threads; a shorter switch interval
    # bounds how long a boto3 call can hold up the loop (the default is 5 ms, our whole budget).
    sys.setswitchinterval(0.001)
    uvicorn.run(
        create_app(config),
        host=config.server.host,
        port=config.server.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # uvloop and httptools are used when installed (see README), h11 otherwise.
        loop="auto",
        http="auto",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
