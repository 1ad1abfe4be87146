"""Checks a magg config.json the way magg reads it, strictly: for `hotswap sidecar --validate-command`.

magg 1.3 has no validate command, and on a reload it skips a server entry that fails validation, which its
diff then takes for a removal (the server is unmounted). So the sidecar checks with magg's own models first,
and refuses what magg would skip or silently accept:

    hotswap sidecar ... --validate-command "/opt/magg/bin/python scripts/peers/magg-validate.py {}"

Exit 0: valid. Exit 1: invalid, one line per problem on stderr, each naming the file and what to fix.
Run it with the Python that has magg installed.
"""

import json
import logging
import sys

logging.disable(logging.CRITICAL)
from magg.settings import MaggConfig, ServerConfig  # noqa: E402


def position(text, offset):
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def main(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        return [f"{path}:1:1: error: cannot read: {e.strerror}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        line, column = position(text, e.pos)
        return [f"{path}:{line}:{column}: error: not JSON: {e.msg}"]
    if not isinstance(data, dict) or not isinstance(data.get("servers", {}), dict):
        return [f'{path}:1:1: error: expected a JSON object with a "servers" object']
    errors = []
    known = set(MaggConfig.model_fields) | {"servers", "kits"}
    for key in sorted(set(data) - known):
        errors.append(f"{path}:1:1: error: unknown setting {key!r} (magg would ignore it); known: {sorted(known)}")
    for name, spec in data.get("servers", {}).items():
        where = f"{path}:1:1: error: server {name!r}"
        if not isinstance(spec, dict):
            errors.append(f"{where}: expected an object")
            continue
        try:
            server = ServerConfig.model_validate({**spec, "name": name})
        except Exception as e:  # pydantic's ValidationError: magg would skip this server, and so unmount it
            detail = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in getattr(e, "errors", list)())
            errors.append(f"{where}: {detail or e} (magg would drop this server)")
            continue
        if server.enabled and not server.command and not server.uri:
            errors.append(f"{where}: give a command or a uri")
        for key in sorted(set(spec) - set(ServerConfig.model_fields)):
            errors.append(f"{where}: unknown key {key!r}; known: {sorted(ServerConfig.model_fields)}")
    return errors


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: magg-validate.py CONFIG.json")
    problems = main(sys.argv[1])
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)
