"""The package as users get it: the console entry point and an sdist that builds elsewhere."""
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_module_and_help():
    run = subprocess.run([sys.executable, "-m", "weboslb", "--help"], capture_output=True,
                         text=True)
    assert run.returncode == 0 and "bench" in run.stdout


def test_native_module_is_built():
    from weboslb._native import lib

    assert lib.pst_key_width(lib.PST_SSLID) == 32 and lib.pst_key_width(99) == 0


def test_sdist_carries_the_c_sources(tmp_path):
    run = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                          "--outdir", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    (sdist,) = tmp_path.glob("weboslb-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {"csrc/pst.c", "csrc/pst.h", "csrc/siphash.h", "csrc/mem.c", "setup.py",
            "pyproject.toml", "weboslb/_native_build.py", "README.md"} <= names
    assert not any(n.endswith(".so") for n in names)


def test_every_subpackage_is_listed_in_setup_py():
    """setup.py lists packages explicitly: a package missing there works in an editable
    install and vanishes from a wheel."""
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(set(ast.literal_eval(kw.value)) for node in ast.walk(tree)
                  if isinstance(node, ast.Call) for kw in node.keywords if kw.arg == "packages")
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "weboslb").rglob("__init__.py")}
    assert found == listed
