"""Test-only stand-in for the `safetensors` package (not in Debian 12), put on PYTHONPATH by
tests/test_external.sh only when the real package is missing. It implements the part of
safetensors.numpy that examples/saliency_numpy.py uses, following the format's
specification: an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}} padded with spaces to 8 bytes,
then the tensors' bytes, row-major, little-endian."""
