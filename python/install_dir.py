"""Prints where `cmake --install` puts the glueq package, relative to the install prefix:
the first of lib/pythonX.Y/dist-packages (Debian) and lib/pythonX.Y/site-packages that this
interpreter searches under /usr/local, else site-packages."""
import sys

version = "python%d.%d" % sys.version_info[:2]
for kind in ("dist-packages", "site-packages"):
    if f"/usr/local/lib/{version}/{kind}" in sys.path:
        print(f"lib/{version}/{kind}")
        break
else:
    print(f"lib/{version}/site-packages")
