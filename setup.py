# Metadata lives in pyproject.toml.  This file declares the one C extension:
# allmydata._gf256 multiplies blocks over GF(2^8) for the erasure codec
# (codec.py); it is optional, and without a C compiler the codec uses zfec alone.
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "allmydata._gf256",
            sources=["src/allmydata/_gf256.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ],
)
