"""Feature windows and the ONNX Runtime murmur/artifact classifier."""
