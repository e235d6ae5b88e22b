"""`python -m emulator`: serve an emulated Agora Cloud Recording API."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.lifecycle import ControlError
from emulator.state import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; they override the AGORA_* environment, which overrides defaults."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--app-id")
    parser.add_argument("--customer-id")
    parser.add_argument("--customer-secret")
    parser.add_argument("--speed", type=float)
    parser.add_argument("--startup-seconds", type=float)
    parser.add_argument("--rate-limit", type=float, dest="rate_limit_qps")
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--max-concurrent-web", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--fault-profile", type=Path, help="JSON {seed, rates} as for /_emulator/profile")
    parser.add_argument("--callback-url", help="post Agora's callbacks (NCS) here")
    parser.add_argument("--callback-secret", help="the NCS secret that signs them (needed with --callback-url)")
    return parser.parse_args(argv)


# Flags that shape the process, not the emulated service; every other flag sets the config field it is named after.
PROCESS_FLAGS = frozenset({"port", "host", "fault_profile"})


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    """The emulator's config: the flags given, over the AGORA_* environment, over the defaults."""
    return EmulatorConfig.from_env(**{k: v for k, v in vars(args).items() if k not in PROCESS_FLAGS})


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = config_from(args)
    if config.callback_url is not None and config.callback_secret is None:
        print("--callback-url needs --callback-secret", file=sys.stderr)
        return 2
    app = create_app(config)
    if args.fault_profile is not None:
        emulator: Emulator = app.state.emulator
        spec = json.loads(args.fault_profile.read_text())
        try:
            emulator.set_profile(spec.get("seed", 0), spec.get("rates", {}))
        except ControlError as exc:
            print(f"bad fault profile: {exc.message}", file=sys.stderr)
            return 2
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Answers go out as header and body writes; without this, Nagle plus delayed ACK adds 40 ms each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((args.host, args.port))
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="info", access_log=False, lifespan="on")
    )
    logging.getLogger("emulator").info("serving on http://%s:%s", args.host, args.port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
