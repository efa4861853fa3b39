"""`python -m layersynth.cli ...`: the same as the `layersynth` console script."""

import sys

from layersynth.cli.main import main

sys.exit(main())
