import sys

from rnnoise_kit.cli import main

sys.exit(main())
