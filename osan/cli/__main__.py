import sys

from osan.cli import main

sys.exit(main())
