import sys

from noise2noise.cli import main

sys.exit(main())
