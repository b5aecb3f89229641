"""``python -m scene_weaver.renderer [flags]``."""

import sys

from .cli import main

sys.exit(main())
