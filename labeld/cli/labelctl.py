"""``labelctl``: the operator's tool (talks to the daemon's control socket)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("labelctl: not yet — the control socket arrives with the API", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
