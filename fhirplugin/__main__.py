import sys

from fhirplugin.cli import main

sys.exit(main())
