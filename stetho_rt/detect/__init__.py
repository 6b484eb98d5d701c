"""Online S1/S2 detector, heart rate and signal quality."""
