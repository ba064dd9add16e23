"""`python -m comfyui_fal_avatar.nodes.cli` is the same as the `fal-avatar` command."""

import sys

from . import main

sys.exit(main())
