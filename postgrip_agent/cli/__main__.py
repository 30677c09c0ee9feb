"""``python -m postgrip_agent.cli``: the same as the ``postgrip-agent`` command."""

import sys

from . import main

sys.exit(main())
