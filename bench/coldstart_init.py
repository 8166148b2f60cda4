"""One init phase in this fresh interpreter, for bench_coldstart.py, which starts it as ``python -S -B``
with exactly the function's environment. Nothing but sys and time (and what ``-S`` itself loads) is
imported before what is timed, so the handler and the minimal handler it is compared with start alike.

``sys.path`` becomes the given directories, then the standard library. Modes: ``handler`` imports
``app`` (the first directory is the function's code); ``minimal`` imports boto3 and makes the given
services' clients; ``discover`` imports the handler untimed, with the network cut off by an audit hook
(any connect or lookup fails the run: init must not use it), and reports the boto3 clients it made.
Prints one JSON line: wall and CPU ms, the modules loaded, how many of them were compiled from source at
import (no bytecode beside them), how many of all its modules came from each directory, peak memory.

Usage: coldstart_init.py handler|minimal|discover <dir>[:<dir>...] [<service>,...]
"""

import sys
import time


def main(mode: str, paths: list[str], services: list[str]) -> None:
    sys.path[:] = paths + [p for p in sys.path if p.startswith(sys.base_prefix)]
    made: list[str] = []
    if mode == "discover":
        sys.addaudithook(no_network)
        import botocore.session

        create_client = botocore.session.Session.create_client

        def recording(self: object, service_name: str, *args: object, **kwargs: object) -> object:
            made.append(service_name)
            return create_client(self, service_name, *args, **kwargs)  # type: ignore[arg-type]

        botocore.session.Session.create_client = recording  # type: ignore[method-assign,assignment]
    before = set(sys.modules)
    started, cpu_started = time.perf_counter(), time.process_time()
    if mode == "minimal":
        import boto3

        for service in services:
            boto3.client(service)  # type: ignore[call-overload]
    else:
        __import__("app")
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - started
    report(sys.modules.keys() - before, paths, wall, cpu, made)


def no_network(event: str, args: tuple[object, ...]) -> None:
    if event in {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}:
        raise OSError(f"network used during init: {event}{args}")


def report(names: set[str], paths: list[str], wall: float, cpu: float, made: list[str]) -> None:
    """The figures as one JSON line (json and os are imported here, after the timed part)."""
    import json
    import os

    origins: dict[str, int] = {}
    compiled = 0
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if spec is None or not spec.has_location or not spec.origin:
            continue
        root = next((p for p in paths if spec.origin.startswith(p + os.sep)), None)
        where = root or ("stdlib" if spec.origin.startswith(sys.base_prefix) else spec.origin)
        origins[where] = origins.get(where, 0) + 1
        if name in names and spec.origin.endswith(".py"):
            compiled += not (spec.cached and os.path.exists(spec.cached))
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    figures = {
        "ms": wall * 1000,
        "cpu_ms": cpu * 1000,
        "modules": len(names),
        "compiled": compiled,
        "origins": origins,
        "peak_rss_mb": peak_kb / 1024,
        "services": made,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(":"), [s for s in sys.argv[3].split(",") if s])
