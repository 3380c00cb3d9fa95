import sys

from watchwait.cli import main

sys.exit(main())
