"""Build glue: metadata lives in pyproject.toml; this file only wires the cffi extension.

Packages are listed explicitly because csrc/ and configs/ sit at the top level and are not
Python packages.
"""
from setuptools import setup

setup(
    packages=["weboslb", "weboslb.table", "weboslb.bench", "weboslb.config", "weboslb.proto",
              "weboslb.engine", "weboslb.io", "weboslb.io.traffic", "weboslb.io.process",
              "weboslb.report", "weboslb.cli", "weboslb.ha"],
    package_data={"weboslb": ["py.typed"], "weboslb.config": ["default.yaml"]},
    cffi_modules=["weboslb/_native_build.py:ffibuilder"],
    zip_safe=False,
)
