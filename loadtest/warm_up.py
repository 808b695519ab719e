"""Ask every load-test person's "For you" feed once and wait until the feeds
workers have built it, so the run measures ranked pages, not the latest
timeline served while a first build is pending (bin/load runs this).

    python loadtest/warm_up.py BASE_URL TOKENS_FILE [TIMEOUT_S]

Exits non-zero on any error answer, or when the builds outlast TIMEOUT_S."""

import json
import sys
import time
import urllib.request
from urllib.parse import urlsplit

POLL_S = 1


def ranking_state(base: str, token: str) -> str:
    """The `ranking` field of a one-item "For you" page: ranked, pending or off."""
    # S310 (a file: or custom scheme): main() lets only http://127.0.0.1 through.
    url = f"{base}/api/feed/?mode=ranked&limit=1"
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)["ranking"]


def main(base: str, tokens_file: str, timeout_s: float = 120) -> int:
    if urlsplit(base).hostname != "127.0.0.1" or urlsplit(base).scheme != "http":
        print(f"warm_up: refusing {base!r}: only http://127.0.0.1:<port> is allowed.", file=sys.stderr)
        return 2
    with open(tokens_file) as file:
        waiting = {person["token"] for person in json.load(file)}
    total, deadline = len(waiting), time.monotonic() + timeout_s
    while waiting:
        # The first pass asks for the builds; later ones see which are done.
        waiting = {token for token in waiting if ranking_state(base, token) == "pending"}
        if waiting and time.monotonic() > deadline:
            print(f"warm_up: {len(waiting)} of {total} feeds still pending after {timeout_s:.0f} s.", file=sys.stderr)
            return 1
        if waiting:
            time.sleep(POLL_S)
    print(f"warm_up: {total} feeds built.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *map(float, sys.argv[3:4])))
