"""Fault injection: storage failures, killed processes, racing writers and a storage
emulator killed mid-write, each followed by a recovery compared with a clean run."""
