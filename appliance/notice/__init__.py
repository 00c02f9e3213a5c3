"""The announcement to callers: an uploaded WAV or MP3 checked and converted (convert.py), kept in
the data folder and picked up by the running recorder (stored.py)."""
