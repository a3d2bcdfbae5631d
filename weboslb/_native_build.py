"""cffi build script (out-of-line API mode) for weboslb._native, the C core.

setuptools runs it through ``cffi_modules`` in setup.py.  The cdef is read from the public
headers in csrc/ with their preprocessor lines removed, so each declaration is written once.
Extra compiler flags (a sanitizer build, say) come from the WEBOSLB_CFLAGS environment variable.
"""
import os
import pathlib
import platform
import shlex

from cffi import FFI

CSRC = pathlib.Path(__file__).resolve().parent.parent / "csrc"
HEADERS = ["pst.h", "decode.h", "l7.h", "flow.h", "eng.h", "capwalk.h"]
SOURCES = ["pst.c", "mem.c", "decode.c", "l7.c", "flow.c", "eng.c", "eng_farm.c", "eng_l7.c",
           "capwalk.c"]


def cdef_text(header: pathlib.Path) -> str:
    """The header without preprocessor lines: cffi's parser takes plain declarations only."""
    return "\n".join(
        line for line in header.read_text().splitlines() if not line.lstrip().startswith("#")
    )


def arch_flags() -> list[str]:
    """-maes on x86-64 lets the AES hash compile; the table checks the CPU before using it,
    and -maes lets the compiler use AES instructions only where the code asks for them."""
    if platform.machine().lower() in ("x86_64", "amd64") and os.name == "posix":
        return ["-maes"]
    return []


# No fused multiply-add: the engine's float arithmetic (response times, loads, scores) and the
# capture walk's times must round as Python's do.
NO_FMA = ["-ffp-contract=off"]

ffibuilder = FFI()
for name in HEADERS:
    ffibuilder.cdef(cdef_text(CSRC / name))

ffibuilder.set_source(
    "weboslb._native",
    "\n".join(f'#include "{name}"' for name in HEADERS),
    # setuptools wants paths relative to setup.py's directory, where builds run
    sources=[os.path.relpath(CSRC / name) for name in SOURCES],
    include_dirs=[os.path.relpath(CSRC)],
    libraries=["m"] if os.name == "posix" else [],
    extra_compile_args=["-O3", "-std=gnu11", *NO_FMA, *arch_flags(),
                        *shlex.split(os.environ.get("WEBOSLB_CFLAGS", ""))],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
