#!/usr/bin/python3
"""Checks that depot's layers depend downward only.

The rule is the comment table at the top of src/depot/CMakeLists.txt, one row per library:

    #   depot::manager    event loop, sessions, ...    -> queue, auth

A library may use the libraries its row names and, transitively, what those may use (manager:
queue, auth and protocol); a row without "->" may use no other depot library. This script
reports, naming file:line and the rule broken:

  * every #include "depot/<folder>/..." (or <depot/...>) in src/depot/<folder>/** that reaches a
    library the including file's library may not use, or a folder that is no library's;
  * every depot_* or depot::* library named in a depot_library(...) call's DEPS or PRIVATE_DEPS,
    or in a target_link_libraries(depot_<name> ...) call, that the library may not use.

A file belongs to the depot_library(...) call that lists it in SOURCES or HEADERS (so
executor/local.{h,cpp} belong to depot_local, which may use the manager); a file no call lists
belongs to the library named after its folder (manager/server.h: depot_manager).

Usage: check_layers.py [--root DIR]   (DIR holds src/depot/; default: this repository)
Exit status: 0 no violation, 1 violations (listed), 2 the table or the calls could not be read.
"""

import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc")

# A row of the comment table: "#   depot::NAME   description   [-> dep, dep]".
TABLE_ROW = re.compile(r"^#\s+depot::(\w+)\s+(.*)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](depot/[^">]+)[">]')
DEPOT_LIBRARY_CALL = re.compile(r"(?<![\w(])depot_library\s*\(([^)]*)\)")
LINK_CALL = re.compile(r"\btarget_link_libraries\s*\(\s*([^)]*)\)")
LIBRARY_NAME = re.compile(r"^depot(?:_|::)(\w+)$")
KEYWORDS = ("FOLDER", "SOURCES", "HEADERS", "DEPS", "PRIVATE_DEPS")


class InputError(Exception):
    pass


def strip_cmake_comments(text):
    """Blanks every '#' comment, keeping offsets and line numbers (depot's CMake has no '#' in
    strings or bracket arguments)."""
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), text)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def tokens_with_lines(text, start, body):
    """The whitespace-separated tokens of body (which starts at text[start]) with their lines."""
    return [(m.group(0), line_of(text, start + m.start())) for m in re.finditer(r"\S+", body)]


def read_table(lines):
    table = {}
    for number, line in enumerate(lines, 1):
        m = TABLE_ROW.match(line)
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        deps = []
        if "->" in rest:
            deps = [d.strip() for d in rest.rsplit("->", 1)[1].split(",")]
            if not all(re.fullmatch(r"\w+", d) for d in deps):
                raise InputError(f"src/depot/CMakeLists.txt:{number}: the table row of {name} "
                                 f"must end with '-> name, name', not '{rest.strip()}'")
        if name in table:
            raise InputError(f"src/depot/CMakeLists.txt:{number}: {name} has two table rows")
        table[name] = (deps, number)
    if not table:
        raise InputError("src/depot/CMakeLists.txt has no layer table (comment rows "
                         "'#   depot::NAME  description  -> deps'); nothing could be checked")
    for name, (deps, number) in table.items():
        for d in deps:
            if d not in table:
                raise InputError(f"src/depot/CMakeLists.txt:{number}: the row of {name} names "
                                 f"{d}, which has no row of its own")
    return table


def closure(table):
    """name -> every library it may use, directly or through the ones it names."""
    allowed = {}

    def visit(name, path):
        if name in allowed:
            return allowed[name]
        if name in path:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise InputError(f"src/depot/CMakeLists.txt: the layer table has a cycle: {cycle}")
        reach = set()
        for d in table[name][0]:
            reach.add(d)
            reach |= visit(d, path + [name])
        allowed[name] = reach
        return reach

    for name in table:
        visit(name, [])
    return allowed


def read_libraries(text):
    """depot_library(...) calls: name -> {"folder", "files", "deps": [(token, line, keyword)]}."""
    code = strip_cmake_comments(text)
    libraries = {}
    for call in DEPOT_LIBRARY_CALL.finditer(code):
        toks = tokens_with_lines(code, call.start(1), call.group(1))
        if not toks:
            continue
        name = toks[0][0]
        if name.startswith("$"):
            continue
        lib = {"folder": None, "files": [], "deps": [], "line": toks[0][1]}
        keyword = None
        for tok, line in toks[1:]:
            if tok in KEYWORDS:
                keyword = tok
            elif keyword == "FOLDER":
                lib["folder"] = tok
            elif keyword in ("SOURCES", "HEADERS"):
                lib["files"].append(tok)
            elif keyword in ("DEPS", "PRIVATE_DEPS"):
                lib["deps"].append((tok, line, keyword))
            else:
                raise InputError(f"src/depot/CMakeLists.txt:{line}: depot_library({name} ...) "
                                 f"has '{tok}' outside FOLDER/SOURCES/HEADERS/DEPS/PRIVATE_DEPS")
        if lib["folder"] is None:
            raise InputError(f"src/depot/CMakeLists.txt:{lib['line']}: depot_library({name} ...) "
                             "has no FOLDER")
        libraries[name] = lib
    if not libraries:
        raise InputError("src/depot/CMakeLists.txt has no depot_library(...) call")
    # Links added outside depot_library(...) count the same.
    for call in LINK_CALL.finditer(code):
        toks = tokens_with_lines(code, call.start(1), call.group(1))
        m = LIBRARY_NAME.match(toks[0][0]) if toks else None
        if m and m.group(1) in libraries:
            for tok, line in toks[1:]:
                if tok not in ("PUBLIC", "PRIVATE", "INTERFACE"):
                    libraries[m.group(1)]["deps"].append((tok, line, "target_link_libraries"))
    return libraries


def rule_text(name, allowed):
    uses = ", ".join(sorted(allowed[name])) or "(nothing in depot)"
    return f"{name} -> {uses}"


def check(root):
    depot = os.path.join(root, "src", "depot")
    cmake_path = os.path.join(depot, "CMakeLists.txt")
    try:
        with open(cmake_path, encoding="utf-8") as f:
            cmake_text = f.read()
    except OSError as e:
        raise InputError(f"cannot read {cmake_path}: {e.strerror}") from e
    table = read_table(cmake_text.splitlines())
    allowed = closure(table)
    libraries = read_libraries(cmake_text)
    if set(table) != set(libraries):
        missing_rows = sorted(set(libraries) - set(table))
        missing_calls = sorted(set(table) - set(libraries))
        raise InputError("src/depot/CMakeLists.txt: the layer table and the depot_library(...) "
                         f"calls disagree: no table row for {missing_rows or 'none'}, no "
                         f"depot_library call for {missing_calls or 'none'}; keep them in step")

    owner = {}  # "executor/local.h" -> "local"
    folders = {}  # "executor" -> {"executor", "local"}
    for name, lib in libraries.items():
        folders.setdefault(lib["folder"], set()).add(name)
        for f in lib["files"]:
            owner[f"{lib['folder']}/{f}"] = name

    def library_of(rel):
        """The library a path below src/depot/ belongs to, or None."""
        if rel in owner:
            return owner[rel]
        folder = rel.split("/", 1)[0]
        if folder in libraries:
            return folder
        if len(folders.get(folder, ())) == 1:
            return next(iter(folders[folder]))
        return None

    violations = []
    # What the libraries link.
    for name, lib in sorted(libraries.items()):
        for tok, line, keyword in lib["deps"]:
            m = LIBRARY_NAME.match(tok)
            if not m:
                continue  # not a depot library (OpenSSL::Crypto, Threads::Threads, ...)
            dep = m.group(1)
            if dep not in libraries:
                violations.append(f"src/depot/CMakeLists.txt:{line}: depot_{name} links {tok} "
                                  f"({keyword}), which is no depot library "
                                  f"(rule: {rule_text(name, allowed)})")
            elif dep != name and dep not in allowed[name]:
                violations.append(f"src/depot/CMakeLists.txt:{line}: depot_{name} links {tok} "
                                  f"({keyword}), a layer it may not use "
                                  f"(rule: {rule_text(name, allowed)})")

    # What the files include.
    files = includes = 0
    for dirpath, dirnames, filenames in os.walk(depot):
        dirnames.sort()
        for filename in sorted(filenames):
            if not filename.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, depot).replace(os.sep, "/")
            shown = f"src/depot/{rel}"
            if "/" not in rel:
                violations.append(f"{shown}: a source file directly in src/depot/ belongs to no "
                                  "layer; move it into a layer's folder")
                continue
            name = library_of(rel)
            if name is None:
                violations.append(f"{shown}: belongs to no library (no depot_library lists it "
                                  f"and its folder is no library's name); list it in one")
                continue
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    includes += 1
                    target_rel = m.group(1)[len("depot/"):]
                    target = library_of(target_rel)
                    if target is None:
                        violations.append(f"{shown}:{number}: includes \"{m.group(1)}\", which "
                                          "is in no layer's folder "
                                          f"(rule: {rule_text(name, allowed)})")
                    elif target != name and target not in allowed[name]:
                        violations.append(f"{shown}:{number}: includes \"{m.group(1)}\" of "
                                          f"depot_{target}, a layer {name} may not use "
                                          f"(rule: {rule_text(name, allowed)})")
    if files == 0:
        raise InputError(f"no source file under {depot}; nothing was checked")
    return violations, files, includes, len(libraries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(here)),
                        help="the directory that holds src/depot/ (default: this repository)")
    args = parser.parse_args()
    try:
        violations, files, includes, libraries = check(args.root)
    except InputError as e:
        print(f"check_layers: {e}", file=sys.stderr)
        return 2
    for v in violations:
        print(v)
    print(f"check_layers: {len(violations)} violation(s) in {files} files, {includes} depot "
          f"#includes and the links of {libraries} libraries")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
