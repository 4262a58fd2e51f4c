"""Reads docker/docker-compose.yml with the standard library: a parser for the block-YAML
subset that file keeps to (mappings, lists, plain/quoted scalars, comments), so the
namespace test takes its topology and environment from the compose file itself."""

import os

COMPOSE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                            "docker", "docker-compose.yml")


def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("", "~", "null"):
        return None
    return text


def _strip_comment(line):
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def parse(text):
    lines = []
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if line.strip():
            if "\t" in line[: len(line) - len(line.lstrip())]:
                raise ValueError(f"tab indentation is outside the supported subset: {raw!r}")
            for bad in ("&", "*", "{", "|", ">"):
                if line.lstrip().startswith(bad):
                    raise ValueError(f"unsupported YAML construct: {raw!r}")
            lines.append((len(line) - len(line.lstrip()), line.strip()))
    value, pos = _block(lines, 0, 0)
    if pos != len(lines):
        raise ValueError(f"unparsed line: {lines[pos][1]!r}")
    return value


def _block(lines, pos, indent):
    if pos >= len(lines) or lines[pos][0] < indent:
        return None, pos
    indent = lines[pos][0]
    if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
        out = []
        while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("-"):
            item = lines[pos][1][1:].strip()
            if _is_key(item) and not item.startswith(("'", '"')):
                # "- key: value" opens a mapping whose further keys sit under the key.
                lines[pos] = (indent + 2, item)
                child, pos = _block(lines, pos, indent + 2)
                out.append(child)
                continue
            out.append(_scalar(item))
            pos += 1
        return out, pos
    out = {}
    while pos < len(lines) and lines[pos][0] == indent:
        text = lines[pos][1]
        if not _is_key(text):
            raise ValueError(f"expected 'key: value', got {text!r}")
        key, _, rest = text.partition(":")
        key = _scalar(key)
        pos += 1
        if rest.strip():
            out[key] = _scalar(rest)
        else:
            child, pos = _block(lines, pos, indent + 1)
            out[key] = child
    if pos < len(lines) and lines[pos][0] > indent:
        raise ValueError(f"bad indentation at {lines[pos][1]!r}")
    return out, pos


def _is_key(text):
    key, sep, rest = text.partition(":")
    return bool(sep) and (rest == "" or rest.startswith(" ")) and " " not in key.strip("\"'")


def load(path=COMPOSE_FILE):
    with open(path) as f:
        return parse(f.read())
