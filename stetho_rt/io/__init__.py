"""Sources (file replay, device, demo signal), file reading and the recorder."""
