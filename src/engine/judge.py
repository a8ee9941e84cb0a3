# The CPython judge (src/engine/cpython.rs runs it): reads sources from stdin and answers, for
# each, whether CPython compiles it. Written so that Python 2 can parse it and say what it is.
#
# Greeting: "unblock-judge <major> <minor> <sys.executable>\n". Request: "<feature minor>
# <length>\n" then <length> bytes of source (0 as the minor: no feature version, else the
# source is also parsed with that `feature_version`). Answer, one line each: "ok", "newer
# <line> <message>" (valid Python, but not for the feature version asked for) or "error
# <line> <message>".
#
# Only builtins and `sys`: importing `ast` (with `enum`, `contextlib`, `collections` and `os`
# behind it) took longer than starting the interpreter, and every run that judges a changed
# file waits for the start.
import sys

NAME = "<unblock>"
# `ast.PyCF_ONLY_AST`: `compile` then parses only, as `ast.parse` does, and honours
# `_feature_version` (the same call `ast.parse(feature_version=(3, minor))` makes).
ONLY_AST = 0x400


def verdict(source, minor):
    try:
        # Compiling the source itself, not an `ast.parse` tree: the parser and then the
        # compiler, which rejects what the grammar allows (`await` outside an async function,
        # a `nonlocal` with no binding, `return` with a value in an async generator), and no
        # Python objects for the tree: faster than `ast.parse` alone.
        compile(source, NAME, "exec", dont_inherit=True)
    except SyntaxError as error:
        return answer("error", error)
    except (ValueError, RecursionError, MemoryError) as error:
        # Null bytes; nesting too deep for the compiler: CPython cannot run it either.
        return "error 0 %s: %s" % (type(error).__name__, one_line(error))
    if minor:
        try:
            compile(source, NAME, "exec", ONLY_AST, dont_inherit=True, _feature_version=minor)
        except SyntaxError as error:
            return answer("newer", error)
    return "ok"


def answer(kind, error):
    return "%s %d %s" % (kind, error.lineno or 0, one_line(error))


def one_line(error):
    message = getattr(error, "msg", None) or str(error)
    return " ".join(str(message).split())


def main():
    if sys.version_info[0] < 3:
        sys.stdout.write("python %d\n" % sys.version_info[0])
        return
    read = sys.stdin.buffer
    write = sys.stdout.buffer
    # The greeting names the interpreter that answers: when it was started through a launcher
    # (a pyenv or asdf shim), the next run starts it directly.
    greeting = ("unblock-judge %d %d " % sys.version_info[:2]).encode()
    # As `os.fsencode` does it, without importing `os`.
    executable = (sys.executable or "").encode(
        sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    )
    write.write(greeting + executable + b"\n")
    write.flush()
    while True:
        header = read.readline()
        if not header:
            return
        minor, length = header.split()
        source = read.read(int(length))
        write.write(verdict(source, int(minor)).encode("utf-8", "replace") + b"\n")
        write.flush()


main()
