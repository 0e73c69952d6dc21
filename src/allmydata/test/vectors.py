"""Where the tests find Tahoe-LAFS's published cap test vectors."""

import os

VECTORS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                            "tahoe-test-vectors.yaml")
