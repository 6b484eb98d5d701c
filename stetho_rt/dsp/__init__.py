"""DSP stages: resampler, band-pass, envelopes, STFT and frame features (ARCHITECTURE.md §3)."""
