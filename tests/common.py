"""Names every test shares: where things are, the key prefix, a configuration.

Test modules import these from here (never from ``conftest`` or from one
another); the fixtures that use them are in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

from data.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
SITES = FIXTURES / "sites"           # the hand-made ``tiny`` site
DATA_SITES = ROOT / "data" / "sites"  # the shipped sample sites (yaozhai, erqi)
ARTIFACTS = Path(__file__).parent / "artifacts"
PREFIX = "t"


def config_for(redis_url: str, **env: str) -> Config:
    """The app's configuration for the test Redis: prefix ``t``, the fixture
    sites, anything else from ``env``."""
    return load_config({"REDIS_URL": redis_url, "GOV_PREFIX": PREFIX,
                        "GOV_SITES_DIR": str(SITES), **env})
