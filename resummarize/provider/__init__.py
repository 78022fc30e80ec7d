"""Talking to the model: prompts, answers, the wire format, one entry per call, retries and pacing."""
